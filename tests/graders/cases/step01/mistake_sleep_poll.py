# replaces: receiver.py
# why: no thread blocked in recvmsg
# what: a non-blocking socket polled with time.sleep(0.01) between tries
import os
import sys
import time

import dgram


def receive(name, sock):
    sock.setblocking(False)
    while True:
        try:
            data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)
        except BlockingIOError:
            time.sleep(0.01)  # nothing yet: look again soon
            continue
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
