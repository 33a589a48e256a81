#!/usr/bin/env python3
"""Step 02: several sockets, one thread each.

New in this step: more than one socket. recvmsg() blocks, so a program that
waits on two sockets needs two waiters: one thread per socket, each blocked in
its own recvmsg(). Every message is printed with its socket's name.

Run:    python3 receiver.py load sine
Then:   python3 sender.py load                  (and: python3 sender.py sine)
"""

import os
import sys
import threading

import dgram


def receive(name, sock):
    while True:
        data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
        line = f"{name}: {dgram.describe(data, flags)}\n"
        print(line, end="", flush=True)  # one write: another thread may be printing too


def main():
    names = sys.argv[1:] or ["incoming"]
    paths = [dgram.path_for(name) for name in names]
    sockets = [dgram.bind(path) for path in paths]
    dgram.stop_on_signals()
    try:
        for name, path, sock in zip(names, paths, sockets):
            threading.Thread(target=receive, args=(name, sock), daemon=True).start()
            print(f"listening on {path}", flush=True)
        threading.Event().wait()  # the main thread has nothing left to do
    except KeyboardInterrupt:
        pass
    finally:
        for path in paths:
            os.unlink(path)


if __name__ == "__main__":
    main()
