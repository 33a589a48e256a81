# replaces: notify.py
# why: the watchdog timeout itself is too late
# what: WATCHDOG=1 every WATCHDOG_USEC, not half of it: any jitter and systemd kills it
"""systemd's notify protocol (sd_notify(3)): step 01's sender, to systemd.

A service started by systemd finds an AF_UNIX datagram socket's address in
$NOTIFY_SOCKET (a path, or "@name" in the abstract namespace). One datagram
of newline-separated KEY=value lines tells systemd how the service is doing:

    READY=1      started: a Type=notify unit is "active" from now on
    STATUS=...   one line of what it is doing, for `systemctl status`
    WATCHDOG=1   still alive: with WatchdogSec= in the unit, systemd kills and
                 restarts a service that has not said so for that long

systemd gives the watchdog's timeout in $WATCHDOG_USEC, and the pid it is
meant for in $WATCHDOG_PID. Outside systemd there is no $NOTIFY_SOCKET, and
send() does nothing.
"""

import os
import socket
import sys


def send(*lines):
    """One datagram to systemd, e.g. send("READY=1", "STATUS=serving")."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return  # not started by systemd (or not Type=notify): nobody to tell
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract: a NUL byte, not an "@"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto("\n".join(lines).encode(), address)
        except OSError as error:  # gone, refused: say so, and keep serving
            sys.stderr.write(f"notify: {address!r}: {error.strerror or error}\n")


def watchdog_seconds():
    """How often to say WATCHDOG=1: half of WatchdogSec=; None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):  # for another process (that exec'd us)
        return None
    return int(usec) / 1e6
