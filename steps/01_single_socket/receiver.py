#!/usr/bin/env python3
"""Step 01: one AF_UNIX datagram socket, and a receiver that prints what arrives.

New in this step: everything. The receiver binds a socket to a path in the file
system; every datagram a sender sends to that path arrives whole, one recvmsg()
call each. dgram.py holds the housekeeping (where the file goes, binding it safely).

Run:    python3 receiver.py [NAME_OR_PATH]      (default: incoming)
Then:   python3 sender.py [NAME_OR_PATH]        (in a second terminal)
"""

import os
import sys

import dgram


def receive(name, sock):
    while True:
        data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
        print(f"{name}: {dgram.describe(data, flags)}", flush=True)


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "incoming"
    path = dgram.path_for(name)
    sock = dgram.bind(path)
    dgram.stop_on_signals()
    try:
        print(f"listening on {path}", flush=True)
        receive(name, sock)
    except KeyboardInterrupt:
        pass
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
