# replaces: receiver.py
# what: a thread for each socket but the last, which the main thread receives itself
import os
import sys
import threading

import dgram


def receive(name, sock):
    while True:
        data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
        print(f"{name}: {dgram.describe(data, flags)}\n", end="", flush=True)


def serve(names, sockets):
    for name, sock in zip(names[:-1], sockets[:-1]):
        threading.Thread(target=receive, args=(name, sock), daemon=True).start()
    receive(names[-1], sockets[-1])


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
