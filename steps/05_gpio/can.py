"""A CAN bus as one more source: a raw CAN socket, each frame one line.

The kernel delivers CAN frames on a socket of their own address family
(AF_CAN, SOCK_RAW, CAN_RAW) bound to one interface: can0, or vcan0, a virtual
bus (`make can-sim`). To the event loop it is one more file descriptor.
Each frame is printed in candump's notation: `123#DEADBEEF`, `12345678#00`
(an extended id), `123#R` (a remote request). Linux only; elsewhere, and on a
kernel without CAN, open_can() says so in one line.
"""

import errno
import socket
import struct
import sys

FRAME_SIZE = 16  # struct can_frame: u32 can_id, u8 len, 3 padding bytes, data[8]
FD_FRAME_SIZE = 72  # struct canfd_frame: a CAN FD frame, with up to 64 bytes of data
# can_id's flags: extended, remote, error
EFF, RTR, ERR = 0x80000000, 0x40000000, 0x20000000
SOL_CAN_RAW = 101  # <linux/can.h>, <linux/can/raw.h>: Python names neither option
CAN_RAW_ERR_FILTER, CAN_RAW_FD_FRAMES = 2, 5
SO_RCVBUFFORCE, SO_RXQ_OVFL = 33, 40  # <asm/socket.h>: Python names neither


class CanSocket:
    """A raw CAN socket bound to one interface: like a gpiod line request, an fd."""

    def __init__(self, iface):
        self.sock = socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW)
        try:
            # error frames too; CAN FD frames too, to say so
            self.sock.setsockopt(SOL_CAN_RAW, CAN_RAW_ERR_FILTER, 0x1FFFFFFF)
            self.sock.setsockopt(SOL_CAN_RAW, CAN_RAW_FD_FRAMES, 1)
            # CAN has no flow control: a full buffer drops frames (and we count those)
            self.make_room(1 << 20)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            self.sock.bind((iface,))
        except OSError:
            self.sock.close()
            raise
        self.fd = self.sock.fileno()
        self.dropped = 0

    def make_room(self, size):
        """A receive buffer for a burst: root may pass net.core.rmem_max, as
        candump -r does."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except PermissionError:  # not root: the kernel caps this at net.core.rmem_max
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    def read(self):
        """The next frame in candump notation, e.g. 123#DEADBEEF, or what went wrong."""
        try:
            frame, ancillary, _, _ = self.sock.recvmsg(
                FD_FRAME_SIZE, socket.CMSG_SPACE(4)
            )
        except OSError as error:  # the interface went down, or away
            return f"({error.strerror})"
        text = describe(frame)
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL:
                (dropped,) = struct.unpack("=I", data)
                # the kernel's count of frames that found no room
                if dropped != self.dropped:
                    lost = dropped - self.dropped
                    text = f"({lost} frames dropped before this one) {text}"
                    self.dropped = dropped
        return text


def open_can(iface):
    """A CanSocket on iface, or None after one line saying why not."""
    try:
        return CanSocket(iface)
    except AttributeError:  # socket.AF_CAN is Linux only
        reason = "no CAN sockets on this system (they are Linux only)"
    except OSError as error:  # no such interface, not a CAN one, no permission
        reason = f"{error.strerror} (want a CAN interface, e.g. can0 or vcan0)"
        if error.errno == errno.EAFNOSUPPORT:
            reason = (
                "this kernel has no CAN support"
                " (socket(AF_CAN) failed; modprobe can-raw?)"
            )
    print(f"can: {iface}: {reason}", file=sys.stderr)
    return None


def describe(frame):
    """One frame in candump notation, or a notice if it is not a classic data frame."""
    can_id, length = struct.unpack_from("=IB", frame)
    if len(frame) != FRAME_SIZE:
        can_id &= 0x1FFFFFFF
        return f"(a CAN FD frame, id {can_id:X}, {length} bytes: classic CAN only here)"
    data = frame[8 : 8 + length].hex().upper()
    if can_id & ERR:
        return f"(an error frame, not data) {can_id & (ERR | 0x1FFFFFFF):08X}#{data}"
    ident = f"{can_id & 0x1FFFFFFF:08X}" if can_id & EFF else f"{can_id & 0x7FF:03X}"
    if can_id & RTR:
        return f"{ident}#R{length or ''}"
    return f"{ident}#{data}"
