"""A D-Bus caller that asks and never reads: RecentFd COUNT times, then holds on.

    python greedy_caller.py ADDRESS COUNT

Speaks the wire protocol itself (dbus_fast only marshals the messages), so that
nothing reads the replies: they, and the memfds in them, stay queued in the
dbus-daemon for this connection. Prints "sent COUNT" once every call is written,
then waits until stdin closes (the test ends it). Standalone, on purpose: the
test copies it where another user can run it.
"""

from __future__ import annotations

import os
import socket
import sys

from dbus_fast import Message


def connect(address: str) -> socket.socket:
    """A connection past AUTH EXTERNAL with unix fds negotiated; Hello sent, nothing read."""
    path = dict(part.split("=", 1) for part in address.removeprefix("unix:").split(","))["path"]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    uid = str(os.getuid()).encode().hex()
    sock.sendall(b"\0AUTH EXTERNAL " + uid.encode() + b"\r\n")
    if not sock.recv(4096).startswith(b"OK"):
        sys.exit("greedy_caller: the bus refused AUTH EXTERNAL")
    sock.sendall(b"NEGOTIATE_UNIX_FD\r\n")
    if not sock.recv(4096).startswith(b"AGREE_UNIX_FD"):
        sys.exit("greedy_caller: the bus does not pass unix fds")
    sock.sendall(b"BEGIN\r\n")
    hello = Message(
        destination="org.freedesktop.DBus",
        path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus",
        member="Hello",
        serial=1,
    )
    sock.sendall(hello._marshall(True))
    return sock


def main() -> None:
    address, count = sys.argv[1], int(sys.argv[2])
    sock = connect(address)
    for serial in range(2, count + 2):
        call = Message(
            destination="org.example.Incoming",
            path="/org/example/Incoming",
            interface="org.example.Incoming",
            member="RecentFd",
            serial=serial,
        )
        sock.sendall(call._marshall(True))
    print(f"sent {count}", flush=True)
    sys.stdin.read()  # hold the connection, and every reply queued for it, until told
    sock.close()


if __name__ == "__main__":
    main()
