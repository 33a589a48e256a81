# replaces: receiver.py
# why: no thread blocked in recvmsg
# what: one thread select()s over every socket: no thread per socket
import os
import select
import sys

import dgram


def serve(names, sockets):
    name_of = dict(zip(sockets, names))
    while True:
        ready, _, _ = select.select(sockets, [], [])
        for sock in ready:
            data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
            print(f"{name_of[sock]}: {dgram.describe(data, flags)}", flush=True)


def main():
    names = sys.argv[1:] or ["incoming"]
    paths = [dgram.path_for(name) for name in names]
    sockets = [dgram.bind(path) for path in paths]
    dgram.stop_on_signals()
    try:
        for path in paths:
            print(f"listening on {path}", flush=True)
        serve(names, sockets)
    except KeyboardInterrupt:
        pass
    finally:
        for path in paths:
            os.unlink(path)


if __name__ == "__main__":
    main()
