"""The system bus of another machine, over ssh: sd-bus's own remote transport.

sdbus.sd_bus_open_system_remote("[user@]host[:port]") starts

    ssh -xT [-p port] -- [user@]host systemd-stdio-bridge

and speaks D-Bus over that ssh's stdin and stdout: systemd-stdio-bridge, on
the other side, connects to the system bus there and passes the messages
through. No relay of ours and no port of ours: ssh authenticates, the remote
bus's policy decides what we may do. (There is no remote *session* bus: that
is why the server of this step can live on the system bus.)

ssh says what went wrong (unknown host, refused key, no bridge there) on its
stderr; we keep that in a file of our own and make one line of it.
"""

import asyncio
import os
import tempfile

import sdbus
from interface import BusLost
from sdbus.exceptions import SdBusBaseError
from sdbus_async.dbus_daemon import FreedesktopDbus

# What ssh (or the shell, or the bridge, over there) says, and what it means for us.
REASONS = [
    ("Could not resolve hostname", "unknown host"),
    ("Host key verification failed", "ssh does not know this host's key (ssh in once)"),
    ("Permission denied", "ssh: the host refused our key"),
    ("Connection refused", "no ssh server there"),
    ("Connection timed out", "no answer from there"),
    ("systemd-stdio-bridge: not found", "no systemd-stdio-bridge there (no systemd?)"),
    ("systemd-stdio-bridge: command not found", "no systemd-stdio-bridge there"),
    ("Failed to connect to bus", "no system bus there (is dbus running?)"),
]


class Remote:
    """The system bus of host, the default bus from now on; why() if it failed."""

    def __init__(self, host):
        self.host = host
        self.ssh_said = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as ssh)
        ours = os.dup(2)
        os.dup2(self.ssh_said.fileno(), 2)  # ssh starts now: this is its stderr
        try:
            self.bus = sdbus.sd_bus_open_system_remote(host)
        finally:
            os.dup2(ours, 2)
            os.close(ours)
        sdbus.set_default_bus(self.bus)

    async def lost(self, every=1.0, patience=3.0):
        """Ping the bus every second; raise BusLost once the link is gone or stalls.

        A stalled link (the host frozen, a cable pulled) never says it ended: a
        question unanswered for `patience` seconds is how we see it.
        """
        dbus = FreedesktopDbus()
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.wait_for(dbus.get_id(), patience)
            except TimeoutError:
                raise BusLost(
                    f"--host {self.host}: the link stalled:"
                    f" no answer over ssh for {patience:.0f} s"
                ) from None
            except SdBusBaseError:
                raise BusLost(f"lost {self.why()}") from None

    def why(self):
        """One line: what went wrong, in ssh's words if it said something."""
        self.ssh_said.seek(0)
        lines = self.ssh_said.read().decode(errors="replace").splitlines()
        if not lines:
            return (
                f"--host {self.host}: the connection over ssh ended (ssh said nothing)"
            )
        for clue, reason in REASONS:
            if any(clue in line for line in lines):
                return f"--host {self.host}: {reason} ({lines[-1].strip()})"
        return f"--host {self.host}: no bus over ssh ({lines[-1].strip()})"
