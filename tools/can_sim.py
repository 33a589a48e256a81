"""A virtual CAN bus (vcan) for step 05's --can, and a way to put frames on it.

For a presenter whose kernel has CAN and the vcan module (Debian, Fedora, Ubuntu
kernels do; some cloud and container kernels do not): the receiver then reads real
frames through a real AF_CAN socket, sent by another process, exactly as from a
CAN controller.

    make can-sim    (python3 -m tools.can_sim create)       make vcan0, print --can vcan0
    python3 -m tools.can_sim send 123#DEADBEEF [...]         frames in candump notation
    python3 -m tools.can_sim send --count 1000               a burst: 123#00000000 .. 123#000003E7
    python3 -m tools.can_sim status | remove
    cansend vcan0 123#DEADBEEF                               the same, from can-utils

Making the interface needs root (CAP_NET_ADMIN); reading and sending frames does not.
The VM test (tests/gpio_vm/test_can_hardware.py) uses the same code.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

IFACE = "vcan0"
CLASSIC = struct.Struct("=IB3x8s")  # struct can_frame
FD = struct.Struct("=IBBxx64s")  # struct canfd_frame: can_id, len, flags, 2 reserved, data
EFF_FLAG, RTR_FLAG, ERR_FLAG = 0x80000000, 0x40000000, 0x20000000
SOL_CAN_RAW, CAN_RAW_FD_FRAMES = 101, 5


class CanSimError(Exception):
    """A one-line reason: no CAN here, no root, a frame that does not parse."""


def unavailable() -> str | None:
    """Why this kernel cannot give us a CAN socket (one line), or None if it can."""
    family = getattr(socket, "AF_CAN", None)
    if family is None:
        return "this system has no CAN sockets (AF_CAN is Linux only)"
    try:
        socket.socket(family, socket.SOCK_RAW, socket.CAN_RAW).close()
    except OSError as error:
        if error.errno == errno.EAFNOSUPPORT and load_modules():
            return unavailable()
        return (
            f"this kernel ({os.uname().release}) has no CAN sockets: socket(AF_CAN) failed "
            f"({error.strerror}); `make test-gpio-vm` runs the CAN test in a VM that has them"
        )
    return None


def load_modules() -> bool:
    """modprobe can-raw and vcan where we may; True if that gave us AF_CAN."""
    if os.geteuid() != 0:
        return False
    for module in ("can-raw", "vcan"):
        modprobe(module)
    try:
        socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW).close()
    except OSError:
        return False
    return True


def modprobe(module: str) -> None:
    with contextlib.suppress(OSError):  # no modprobe (a container): the socket() will tell
        subprocess.run(["modprobe", module], check=False, capture_output=True)


def exists(iface: str = IFACE) -> bool:
    return Path("/sys/class/net", iface).exists()


def ip(*args: str) -> None:
    try:
        done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise CanSimError("no `ip` command: install iproute2") from None
    if done.returncode != 0:
        raise CanSimError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def create(iface: str = IFACE) -> None:
    """vcan0, up, with room for CAN FD frames (mtu 72) so that they can be sent too."""
    if reason := unavailable():
        raise CanSimError(reason)
    if os.geteuid() != 0:
        raise CanSimError(f"making {iface} needs root: run it with sudo")
    if not exists(iface):
        modprobe("vcan")
        ip("link", "add", "dev", iface, "type", "vcan")
    ip("link", "set", "dev", iface, "mtu", "72")
    ip("link", "set", "dev", iface, "up")


def remove(iface: str = IFACE) -> bool:
    if not exists(iface):
        return False
    ip("link", "delete", "dev", iface)
    return True


def parse(text: str) -> bytes:
    """A frame in candump notation (123#DEADBEEF, 12345678#00, 123#R, 123##1AABB) as bytes."""
    ident, sep, data = text.partition("#")
    try:
        can_id = int(ident, 16)
        if not sep or len(ident) not in (3, 8):
            raise ValueError
        if len(ident) == 8 and not can_id & ERR_FLAG:
            can_id |= EFF_FLAG
        if data.startswith("#"):  # CAN FD: ##<flags><data>
            payload = bytes.fromhex(data[2:])
            if len(payload) > 64:
                raise ValueError
            return FD.pack(can_id, len(payload), int(data[1], 16), payload)
        if data.startswith("R"):
            return CLASSIC.pack(can_id | RTR_FLAG, int(data[1:] or 0), b"")
        payload = bytes.fromhex(data)
        if len(payload) > 8:
            raise ValueError
    except (ValueError, IndexError):
        raise CanSimError(f"{text!r} is not a frame: want e.g. 123#DEADBEEF") from None
    return CLASSIC.pack(can_id, len(payload), payload)


def burst(count: int, ident: int = 0x123) -> list[bytes]:
    """count frames whose data is their number: 123#00000000, 123#00000001, ..."""
    return [CLASSIC.pack(ident, 4, n.to_bytes(4, "big")) for n in range(count)]


def send(frames: list[bytes], iface: str = IFACE) -> None:
    """Put the frames on iface, in order, from a socket of our own."""
    if reason := unavailable():
        raise CanSimError(reason)
    with socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW) as sock:
        if any(len(frame) == FD.size for frame in frames):
            sock.setsockopt(SOL_CAN_RAW, CAN_RAW_FD_FRAMES, 1)
        try:
            sock.bind((iface,))
        except OSError as error:
            raise CanSimError(f"{iface}: {error.strerror} (make it with `make can-sim`)") from None
        for frame in frames:
            while True:
                try:
                    sock.send(frame)
                    break
                except OSError as error:  # a real controller's queue is full: try again
                    if error.errno != errno.ENOBUFS:
                        raise CanSimError(f"{iface}: {error.strerror}") from None
                    time.sleep(0.001)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tools.can_sim", description=__doc__)
    parser.add_argument("action", choices=["create", "send", "status", "remove"])
    parser.add_argument("frames", nargs="*", help="for send: frames in candump notation")
    parser.add_argument("--iface", default=IFACE, help=f"the interface ({IFACE})")
    parser.add_argument("--count", type=int, default=0, help="for send: a burst of this many")
    args = parser.parse_args(argv)
    try:
        if args.action == "create":
            create(args.iface)
            print(f"can-sim: {args.iface} is up (a virtual CAN bus)")
            print(f"  run:  python3 steps/05_gpio/receiver.py load sine --can {args.iface}")
            print(f"  send: cansend {args.iface} 123#DEADBEEF   (can-utils), or")
            print(f"        python3 -m tools.can_sim send --iface {args.iface} 123#DEADBEEF")
        elif args.action == "send":
            frames = [parse(text) for text in args.frames] + burst(args.count)
            if not frames:
                raise CanSimError("nothing to send: give frames (123#DEADBEEF) or --count N")
            send(frames, args.iface)
        elif args.action == "remove":
            found = remove(args.iface)
            print(f"can-sim: {'removed' if found else 'there was no'} {args.iface}")
        else:
            if reason := unavailable():
                raise CanSimError(reason)
            state = "up" if exists(args.iface) else "not there: `make can-sim` makes it"
            print(f"can-sim: CAN sockets work; {args.iface} is {state}")
    except (CanSimError, OSError) as error:
        print(f"can-sim: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
