# replaces: receiver.py
# what: sock.recv() (recvfrom) of one byte more than fits: truncation by length
import os
import socket
import sys

import dgram


def receive(name, sock):
    while True:
        data = sock.recv(dgram.MAX_SIZE + 1)
        flags = socket.MSG_TRUNC if len(data) > dgram.MAX_SIZE else 0
        print(f"{name}: {dgram.describe(data[: dgram.MAX_SIZE], flags)}", flush=True)


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
