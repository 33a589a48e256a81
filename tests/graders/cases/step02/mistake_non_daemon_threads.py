# replaces: receiver.py
# why: did not stop on (Ctrl-C|SIGTERM)
# what: the threads are not daemons: Python waits for them at exit, and they never end
import os
import sys
import threading

import dgram


def receive(name, sock):
    while True:
        data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
        print(f"{name}: {dgram.describe(data, flags)}\n", end="", flush=True)


def serve(names, sockets):
    for name, sock in zip(names, sockets):
        threading.Thread(target=receive, args=(name, sock)).start()
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
