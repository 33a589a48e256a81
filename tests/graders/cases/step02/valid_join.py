# replaces: receiver.py
# what: daemon threads calling sock.recv(), the main thread join()s them
import os
import socket
import sys
import threading

import dgram


def receive(name, sock):
    while True:
        data = sock.recv(dgram.MAX_SIZE + 1)
        flags = socket.MSG_TRUNC if len(data) > dgram.MAX_SIZE else 0
        line = f"{name}: {dgram.describe(data[: dgram.MAX_SIZE], flags)}\n"
        print(line, end="", flush=True)


def serve(names, sockets):
    threads = [
        threading.Thread(target=receive, args=(n, s), daemon=True)
        for n, s in zip(names, sockets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


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
