# replaces: receiver.py
# why: no thread blocked in recvmsg
# what: a thread per socket, each polls its non-blocking socket with time.sleep(0.01)
import os
import sys
import threading
import time

import dgram


def receive(name, sock):
    sock.setblocking(False)
    while True:
        try:
            data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        print(f"{name}: {dgram.describe(data, flags)}\n", end="", flush=True)


def serve(names, sockets):
    for name, sock in zip(names, sockets):
        threading.Thread(target=receive, args=(name, sock), daemon=True).start()
    threading.Event().wait()


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
