"""A simulated GPIO line, for machines without one. It is not hardware, and says so.

To receiver.py it looks like a gpiod line request: a file descriptor that
becomes readable when edges are waiting, and read_edge_events() returning
gpiod.EdgeEvent objects. Behind the fd is a pipe; a thread plays the button,
pressing and releasing it every half second. From the fd onward, the
simulated line and a real one take the same code path.
"""

import os
import struct
import threading
import time

import gpiod

RECORD = struct.Struct("=QB")  # one edge: timestamp_ns, event type
RISING, FALLING = gpiod.EdgeEvent.Type.RISING_EDGE, gpiod.EdgeEvent.Type.FALLING_EDGE


class SimulatedLine:
    def __init__(self, period=0.5):
        self.fd, self._button = os.pipe()
        os.set_blocking(self.fd, False)
        self._seqno = 0
        threading.Thread(target=self._press, args=(period,), daemon=True).start()

    def _press(self, period):
        edge = RISING
        while True:
            time.sleep(period)  # the button's own clock, like a finger on hardware
            os.write(self._button, RECORD.pack(time.time_ns(), edge.value))
            edge = FALLING if edge is RISING else RISING

    def read_edge_events(self):
        events = []
        for timestamp_ns, edge in RECORD.iter_unpack(os.read(self.fd, RECORD.size * 16)):
            self._seqno += 1
            events.append(gpiod.EdgeEvent(edge, timestamp_ns, 0, self._seqno, self._seqno))
        return events
