"""A private system-like bus, its users, and an sshd onto it: step 11 without the machine's own.

Everything here is real and nothing is the machine's: a dbus-daemon with a system
bus's configuration (deny by default, like system.conf) that includes step 11's
policy file, on a private address; the service's user made by systemd-sysusers
from step 11's own sysusers file; an OpenSSH sshd on 127.0.0.1 and a free port
whose authorized_keys force systemd-stdio-bridge onto that bus.

The users live in a copy of /etc/passwd that only the daemons see: dbus-daemon
and sshd run in a mount namespace of their own where the copy is bind-mounted
over /etc/passwd. The programs switch to those users by number (setpriv). So
the machine's /etc, ~/.ssh and its real system bus are never touched. Needs
root (the user switching, the mounts) and Linux.

Used by the step 11 grader and notebook:

    with system_bus.start(step) as system:
        system.run_as("incoming", [python, "receiver.py", "--bus", "system", ...])
        with system.sshd() as ssh:
            env = ssh.client_env("bridge")      # PATH with an `ssh` that uses our config
            [python, "client.py", "--host", ssh.host("viewer")]
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tools import bus
from tools.other_users import Unreachable, python_for_everyone, stage, temp_base

SERVICE_USER = "incoming"  # the user step 11's sysusers file makes, and its policy names
VIEWER = "incoming-viewer"  # someone else: who plots, locally or over ssh
BRIDGE = shutil.which("systemd-stdio-bridge") or "/usr/lib/systemd/systemd-stdio-bridge"

# Like Debian's /usr/share/dbus-1/system.conf, minus the machine's own includes.
CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- What one connection may hold (dbus-daemon(1), <limit>). Only the main config's
       limits count: those in an included policy file are ignored. Replies queued for a
       caller that does not read stop at max_outgoing_unix_fds (more are refused: "destination
       has a full message queue"), far below what a sender may have queued in all
       (max_incoming_unix_fds), so one greedy caller cannot stall the service's connection. -->
  <limit name="max_outgoing_unix_fds">16</limit>
  <limit name="max_incoming_unix_fds">1024</limit>
  <limit name="max_connections_per_user">64</limit>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>
  {include}
</busconfig>
"""

SSHD_CONFIG = """ListenAddress 127.0.0.1
Port {port}
HostKey {folder}/host_key
PidFile none
AuthorizedKeysFile {folder}/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers {viewer}
PermitUserEnvironment PATH
AllowTcpForwarding no
X11Forwarding no
LogLevel ERROR
"""

SSH_CONFIG = """Host *
  IdentityFile {key}
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile {folder}/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
"""

# sshd and dbus-daemon run with the private /etc/passwd and group (and, for sshd, a
# /run of its own: it wants /run/sshd, and the machine need not have one).
IN_NAMESPACE = """set -e
mount --bind "$1/passwd" /etc/passwd
mount --bind "$1/group" /etc/group
if [ "$2" = run ]; then mount -t tmpfs -o mode=755 tmpfs /run; mkdir -m 755 /run/sshd; fi
shift 2
exec "$@"
"""


class Unavailable(RuntimeError):
    """This machine cannot host the private system bus; the message says why, in one line."""


def check() -> None:
    """Raise Unavailable unless we can make users, namespaces and a system-like bus here."""
    if os.geteuid() != 0:
        raise Unavailable("needs root: the service's user and others, switched to with setpriv")
    for tool in ("dbus-daemon", "unshare", "setpriv", "systemd-sysusers"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} not found")
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        raise Unavailable("cannot make a mount namespace here (unshare --mount)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: str


@dataclass
class SystemBus:
    address: str
    socket: Path
    folder: Path
    etc: Path  # the private passwd and group
    users: dict[str, User]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """os.environ with this bus as the system bus (and no session bus at all)."""
        env = {k: v for k, v in os.environ.items() if k != bus.ENV_VAR}
        return {**env, "DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def as_user(self, name: str) -> list[str]:
        """The argv prefix that runs a command as name, by number, with no other groups."""
        user = self.users[name]
        return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--"]

    def python_as(self, name: str) -> tuple[list[str], dict[str, str]]:
        """argv prefix and env to run this venv's Python as name (who may not reach it)."""
        try:
            python, env = python_for_everyone()
        except Unreachable as why:
            raise Unavailable(str(why)) from None
        return [*self.as_user(name), python], {**self.env, **env, "HOME": self.users[name].home}

    def folder_for(self, name: str) -> Path:
        """A folder owned by name, like the RuntimeDirectory= systemd makes for the service."""
        user = self.users[name]
        folder = self.folder / f"run-{name}"
        folder.mkdir(mode=0o755, exist_ok=True)
        os.chown(folder, user.uid, user.gid)
        return folder

    @contextlib.contextmanager
    def sshd(self) -> Iterator[Sshd]:
        """A real sshd on 127.0.0.1, whose keys force systemd-stdio-bridge onto this bus."""
        folder = self.folder / "ssh"
        folder.mkdir(mode=0o755)
        keys = {}
        for name in ("host_key", "bridge", "nobridge", "stranger"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", folder / name],
                check=True,
            )
            keys[name] = (folder / f"{name}.pub").read_text().strip()
        bridge = f'command="{BRIDGE} --bus-path={self.address}",restrict'
        no_bridge = 'restrict,environment="PATH=/nonexistent"'  # the remote has no bridge
        (folder / "authorized_keys").write_text(
            f"{bridge} {keys['bridge']}\n{no_bridge} {keys['nobridge']}\n"
        )  # "stranger" is not in it: a refused key
        port = free_port()
        (folder / "sshd_config").write_text(
            SSHD_CONFIG.format(port=port, folder=folder, viewer=VIEWER)
        )
        (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {keys['host_key']}\n")
        log = open(folder / "sshd.log", "wb")  # noqa: SIM115 (closed in the finally)
        sshd = subprocess.Popen(
            [
                "unshare", "--mount", "--propagation", "private",
                "sh", "-c", IN_NAMESPACE, "sh", self.etc, "run",
                "/usr/sbin/sshd", "-D", "-e", "-f", folder / "sshd_config",
            ],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            preexec_fn=bus.end_with_parent,
        )  # fmt: skip
        try:
            wait_for_port(port, sshd, folder / "sshd.log")
            yield Sshd(port, folder)
        finally:
            sshd.terminate()
            sshd.wait(timeout=10)
            log.close()

    def stop(self) -> None:
        """The programs first, the bus last (it was started first)."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


@dataclass
class Sshd:
    port: int
    folder: Path

    def host(self, user: str = VIEWER) -> str:
        """The --host argument: [USER@]HOST[:PORT]."""
        return f"{user}@127.0.0.1:{self.port}"

    def client_env(self, key: str, env: dict[str, str], known: bool = True) -> dict[str, str]:
        """env with an `ssh` first in PATH that logs in with key and our own config only.

        known=False: an ssh that has never seen this host's key (an empty known_hosts).
        """
        name = key if known else f"{key}-stranger-host"
        bin_dir = self.folder / f"bin-{name}"
        if not bin_dir.exists():
            bin_dir.mkdir()
            config = self.folder / f"ssh_config-{name}"
            text = SSH_CONFIG.format(key=self.folder / key, folder=self.folder)
            if not known:
                (self.folder / "known_hosts-empty").touch()
                text = text.replace("known_hosts", "known_hosts-empty")
            config.write_text(text)
            wrapper = bin_dir / "ssh"
            wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {config} "$@"\n')
            wrapper.chmod(0o755)
        clean = {k: v for k, v in env.items() if k != "SSH_AUTH_SOCK"}
        return {**clean, "PATH": f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"}


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once something accepts on 127.0.0.1:port; fail with the log if process died."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Unavailable(f"sshd exited: {log.read_text().strip()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)  # polling a port: no event to wait on
    raise Unavailable(f"sshd did not listen on port {port} within 20 s")


def make_users(etc: Path, sysusers: Path) -> dict[str, User]:
    """The machine's users plus the service's (from sysusers) and a viewer, in etc/ only."""
    root = etc.parent
    etc.mkdir(parents=True)
    for name in ("passwd", "group"):
        shutil.copy(f"/etc/{name}", etc / name)
    home = root / "home"
    home.mkdir(mode=0o755)
    viewer = root / "viewer.conf"
    viewer.write_text(f'u {VIEWER} - "plots from elsewhere" {home} /bin/sh\n')
    subprocess.run(
        ["systemd-sysusers", f"--root={root}", sysusers, viewer],
        check=True, capture_output=True,
    )  # fmt: skip
    users = {}
    for line in (etc / "passwd").read_text().splitlines():
        name, _, uid, gid, _, home_dir, _ = line.split(":")
        if name in (SERVICE_USER, VIEWER):
            users[name] = User(name, int(uid), int(gid), home_dir)
    os.chown(home, users[VIEWER].uid, users[VIEWER].gid)  # matplotlib keeps its cache there
    return users


@contextlib.contextmanager
def start(step: Path, policy: Path | None = None) -> Iterator[SystemBus]:
    """The private system bus with step's policy, and its users; stopped, removed afterwards.

    policy: another policy file instead of the step's (one that is wrong, or out of date).
    Its folder is in /tmp, not under the caller's: every user must reach the bus's socket.
    """
    check()
    folder = Path(tempfile.mkdtemp(prefix="incoming-system-", dir=temp_base()))
    folder.chmod(0o755)
    etc = folder / "root" / "etc"
    users = make_users(etc, step / "incoming.sysusers")
    socket_path = folder / "system_bus_socket"
    config = folder / "system.conf"
    include = f"<include>{policy or step / 'org.example.Incoming.conf'}</include>"
    config.write_text(CONFIG.format(socket=socket_path, include=include))
    log = open(folder / "daemon.log", "wb")  # noqa: SIM115 (closed in the finally)
    daemon = subprocess.Popen(
        [
            "unshare", "--mount", "--propagation", "private",
            "sh", "-c", IN_NAMESPACE, "sh", etc, "-",
            "dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile",
            "--print-address=1",
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
        preexec_fn=bus.end_with_parent,
    )  # fmt: skip
    system = SystemBus("", socket_path, folder, etc, users, [daemon])
    try:
        assert daemon.stdout is not None
        system.address = daemon.stdout.readline().decode().strip()
        if not system.address:
            daemon.wait(timeout=10)
            raise Unavailable(f"dbus-daemon: {(folder / 'daemon.log').read_text().strip()}")
        yield system
    finally:
        system.stop()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def demo(step_n: int, seconds: float, save: Path | None) -> int:
    """The whole of step 11 on this machine: service, feeder, sshd, and the plot over ssh."""
    from tools import table

    step = stage(table.get(step_n).folder())  # the service's user runs its files
    with start(step) as system, system.sshd() as ssh:
        run = system.folder_for(SERVICE_USER)
        prefix, env = system.python_as(SERVICE_USER)
        # Bare names in its own runtime folder: the sources (and the charts' titles) are
        # load and sine, not this demo's temporary paths.
        server = subprocess.Popen(
            [*prefix, "receiver.py", "--bus", "system", "load", "sine"],
            cwd=step, env={**env, "XDG_RUNTIME_DIR": str(run)}, stdout=subprocess.DEVNULL,
            preexec_fn=bus.end_with_parent,
        )  # fmt: skip
        feeder = subprocess.Popen(
            [sys.executable, "-m", "tools.feeder", run / "load", run / "sine", "--rate", "10"],
            cwd=ROOT, preexec_fn=bus.end_with_parent,
        )  # fmt: skip
        system.processes += [feeder, server]
        host = ssh.host()
        print(f"the service runs as {SERVICE_USER} on a private system bus; plotting it with")
        print(f"  python3 client.py --host {host}   (ssh -> systemd-stdio-bridge -> the bus)")
        plot = [sys.executable, "client.py", "--host", host]
        if save is not None:
            save.parent.mkdir(parents=True, exist_ok=True)
            plot += ["--save", str(save.resolve()), "--seconds", str(seconds)]
        try:
            return subprocess.run(
                plot, cwd=step, env=ssh.client_env("bridge", system.env)
            ).returncode
        except KeyboardInterrupt:
            return 0


ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="step 11 on a private system bus, over ssh")
    parser.add_argument("--step", type=int, default=11)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--save", type=Path, help="write the plot here instead of a window")
    args = parser.parse_args()
    try:
        sys.exit(demo(args.step, args.seconds, args.save))
    except Unavailable as why:
        sys.exit(f"system_bus: {why}")
