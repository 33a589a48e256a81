"""Socket housekeeping for receiver.py and sender.py: the same file in every step.

Not the talk's point, so it lives here: where the socket goes, how it is bound
safely, and how a datagram becomes one printable line.
"""

import os
import signal
import socket
import stat
import sys
import tempfile

MAX_SIZE = 1024  # bytes: a longer datagram is cut off (and we say so)
# Control characters (NUL, newline, escape...) shown as \x00, \x0a...: a NUL would
# cut the text short on D-Bus, a newline would make two lines of one datagram, an
# escape would drive the terminal. str.translate() table: code point -> its escape.
CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def path_for(name):
    """Put a bare name in a per-user folder; leave a path (with a "/") alone."""
    if "/" in name:
        return name
    folder = os.environ.get("XDG_RUNTIME_DIR", "")
    if not os.path.isdir(folder):  # unset, or gone (no login session): our own folder
        folder = os.path.join(tempfile.gettempdir(), f"incoming-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if os.stat(folder).st_uid != os.getuid():
        sys.exit(f"{folder}: not ours, refusing to use it")
    return os.path.join(folder, name)


def bind(path):
    """Bind a datagram socket to path, owner-only; replace a dead receiver's file."""
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            sys.exit(f"{path}: exists and is not a socket, leaving it alone")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            probe.connect(path)
            sys.exit(f"{path}: another receiver is listening there")
        except ConnectionRefusedError:
            os.unlink(path)  # stale: left behind by a receiver that crashed
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    old_umask = os.umask(0o177)  # rw for the owner only, whatever the caller's umask
    try:
        sock.bind(path)
    except OSError as error:  # no such folder, no permission, a path too long...
        sys.exit(f"{path}: cannot listen there: {error.strerror or error}")
    finally:
        os.umask(old_umask)
    return sock


def describe(data, flags):
    """One line for one datagram, whatever its bytes."""
    if flags & socket.MSG_TRUNC:
        text = data.decode(errors="replace").translate(CONTROL)
        return f"(truncated to {MAX_SIZE} bytes) {text}"
    if not data:
        return "(empty datagram)"
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return f"(not UTF-8, {len(data)} bytes) {data!r}"
    escaped = text.translate(CONTROL)
    if escaped != text:
        return f"(control characters escaped) {escaped}"
    return text


def stop_on_signals():
    """SIGTERM and SIGHUP (a closed terminal or tmux window) act like Ctrl-C.

    Both are turned into a SIGINT, so asyncio.run(), which catches Ctrl-C itself,
    cancels its tasks cleanly instead of being interrupted wherever it stands.
    """
    # even if we were started with it ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in signal.SIGTERM, signal.SIGHUP:
        signal.signal(signum, lambda signum, frame: signal.raise_signal(signal.SIGINT))


def ctrl_c_once():
    """Call first thing in main(): one Ctrl-C stops the program, any more are ignored.

    asyncio.run() cancels main() on the first Ctrl-C, but turns a second one into a
    KeyboardInterrupt wherever the program stands (often inside a task, which then
    prints a traceback on the way out). So the first one also ignores the others.
    A Ctrl-C held back until now (the first line of the program blocks SIGINT: one
    landing while asyncio.run() builds its loop breaks it) arrives and cancels main().
    """
    cancel_main = signal.getsignal(signal.SIGINT)  # asyncio.run()'s own handler

    def first_only(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cancel_main(signum, frame)

    signal.signal(signal.SIGINT, first_only)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
