"""A simulated GPIO line, for machines without one. It is not hardware, and says so.

To receiver.py it looks like a gpiod line request: a file descriptor that
becomes readable when edges are waiting, and read_edge_events() returning
gpiod.EdgeEvent objects. Behind the fd is a pipe; the event loop's own timer
plays the button (loop.call_later), pressing and releasing it every half
second, so the simulation costs no thread. From the fd onward, the simulated
line and a real one take the same code path.
"""

import asyncio
import os
import struct
import time

import gpiod

RECORD = struct.Struct("=QB")  # one edge: timestamp_ns, event type
RISING, FALLING = gpiod.EdgeEvent.Type.RISING_EDGE, gpiod.EdgeEvent.Type.FALLING_EDGE


class SimulatedLine:
    def __init__(self, period=0.5):
        self.fd, self._button = os.pipe()
        os.set_blocking(self.fd, False)
        self._seqno = 0
        self._period = period
        self._edge = RISING
        self._loop = asyncio.get_running_loop()
        self._loop.call_later(period, self._press)

    def _press(self):
        os.write(self._button, RECORD.pack(time.time_ns(), self._edge.value))
        self._edge = FALLING if self._edge is RISING else RISING
        self._loop.call_later(self._period, self._press)  # the button's own clock

    def read_edge_events(self):
        events = []
        for timestamp_ns, edge in RECORD.iter_unpack(
            os.read(self.fd, RECORD.size * 16)
        ):
            self._seqno += 1
            events.append(
                gpiod.EdgeEvent(edge, timestamp_ns, 0, self._seqno, self._seqno)
            )
        return events
