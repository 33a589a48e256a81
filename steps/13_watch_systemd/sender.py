#!/usr/bin/env python3
"""The sender: every line it reads becomes one datagram. The same file in every step.

Run:    python3 sender.py [NAME_OR_PATH]        (default: incoming)
        printf 'a\\nb\\n' | python3 sender.py load
"""

import socket
import sys

import dgram


def lines():
    """Typed lines at a prompt on a terminal; raw lines (any bytes) from a pipe."""
    if sys.stdin.isatty():
        while True:
            yield input("message (utf-8 please): ").encode()
    else:
        for line in sys.stdin.buffer:
            yield line.rstrip(b"\n")


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "incoming"
    path = dgram.path_for(name)
    dgram.stop_on_signals()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        for line in lines():
            try:
                sock.sendto(line, path)
            except (FileNotFoundError, ConnectionRefusedError):
                sys.exit(f"sender.py: nobody is listening on {path}")
            except OSError as error:  # e.g. too long for a datagram: skip this line
                print(f"sender.py: line not sent: {error.strerror}", file=sys.stderr)
    except (EOFError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
