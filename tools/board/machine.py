"""Boot the board: systemd as PID 1 in systemd-nspawn, sshd on 127.0.0.1 and a free port.

    systemd-nspawn -D build/board/root --register=no --keep-unit --volatile=overlay -b

--volatile=overlay: every boot starts from the same tree, and what the board writes (the
users systemd-sysusers makes, the journal) is gone when it stops. The service comes from
the repo's own `make install-service DESTDIR=<stage>`; each staged file is bound into the
board read-only, so boards of different steps can share the tree. nspawn shares the
host's network: sshd gets a config of ours bound over /etc/ssh/sshd_config that listens
on 127.0.0.1 and a free port only (the tests check with `ss` that nothing else appears).

Ready is systemd's notify protocol, twice over: the board's systemd sends READY=1 to
nspawn once it has booted, and nspawn (--notify-ready=yes) sends READY=1 to the socket
of ours in $NOTIFY_SOCKET, with X_NSPAWN_LEADER_PID=, the board's PID 1 as we see it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools import table
from tools.board.build import KEY, ROOTFS, VIEWER, BoardError, build

SSHD_CONFIG = """# The board's sshd: 127.0.0.1 and one port only (nspawn shares the host's network).
ListenAddress 127.0.0.1
Port {port}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
Subsystem sftp internal-sftp
"""

SSH_CONFIG = """Host board 127.0.0.1
  HostName 127.0.0.1
  Port {port}
  IdentityFile {key}
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile {folder}/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
"""

NAME = "org.example.Incoming"  # the service's bus name and interface
OBJECT = "/org/example/Incoming"
BOOT_TIMEOUT = 120.0  # seconds for the board's systemd to say READY=1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def latest_step() -> int:
    return table.load()[-1].n


@dataclass
class Board:
    """A booted board: its nspawn, its PID 1 (as the host sees it), its sshd's port."""

    folder: Path  # this boot's files: sshd_config, ssh_config, known_hosts, stage/, console
    nspawn: int
    leader: int
    port: int
    step: int
    boot_seconds: float
    feeders: list[int] = field(default_factory=list)  # tools.feeder processes, from the host

    @property
    def ssh_config(self) -> Path:
        return self.folder / "ssh_config"

    @property
    def bus_socket(self) -> Path:
        """The board's system bus, reachable from the host (root) through its PID 1's root."""
        return Path(f"/proc/{self.leader}/root/run/dbus/system_bus_socket")

    @property
    def bus_address(self) -> str:
        return f"unix:path={self.bus_socket}"

    def host(self, user: str = VIEWER) -> str:
        """The client's --host: [USER@]HOST:PORT."""
        return f"{user}@127.0.0.1:{self.port}"

    def client_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """env with an `ssh` first in PATH that uses this board's key and known_hosts only."""
        base = dict(os.environ if env is None else env)
        base.pop("SSH_AUTH_SOCK", None)
        return {**base, "PATH": f"{self.folder / 'bin'}:{base.get('PATH', '/usr/bin:/bin')}"}

    def ssh(self, command: str = "", user: str = "root") -> list[str]:
        """The ssh argv that runs command on the board as user (no command: a shell)."""
        tty = ["-t"] if not command and sys.stdin.isatty() else []
        return [
            "ssh",
            "-F",
            str(self.ssh_config),
            *tty,
            f"{user}@board",
            *([command] * bool(command)),
        ]

    def run(
        self, command: str, user: str = "root", check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command on the board over ssh; check: its failure raises BoardError."""
        done = subprocess.run(
            self.ssh(command, user),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise BoardError(
                f"on the board, {command!r} exited {done.returncode}: {' / '.join(said)}"
            )
        return done

    def call(self, method: str = "GetIncoming", user: str = VIEWER) -> str:
        """busctl call org.example.Incoming's method on the board, as user: its answer."""
        command = f"busctl call {NAME} {OBJECT} {NAME} {method}"
        return self.run(command, user=user).stdout.strip()

    def feed(self, *names: str, rate: float = 5) -> int:
        """Feed the service's sockets (/run/incoming/NAME there) from the host; the pid."""
        paths = [f"/proc/{self.leader}/root/run/incoming/{name}" for name in names]
        log = open(self.folder / "feeder.log", "ab")  # noqa: SIM115 (the feeder's now)
        feeder = subprocess.Popen(
            [sys.executable, "-m", "tools.feeder", *paths, "--rate", str(rate)],
            cwd=table.ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,  # not make's: make board's caller would wait for it to close
            start_new_session=True,  # outlives make board; stop() ends it
        )
        log.close()
        self.feeders.append(feeder.pid)
        self.save()
        return feeder.pid

    def alive(self) -> bool:
        try:
            os.kill(self.nspawn, 0)
        except ProcessLookupError:
            return False
        return True

    def save(self) -> None:
        state = {**asdict(self), "folder": str(self.folder)}
        (self.folder / "state.json").write_text(json.dumps(state) + "\n")

    @classmethod
    def load(cls, folder: Path) -> Board | None:
        """The board booted with this folder, if it still runs."""
        try:
            state = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            return None
        board = cls(**{**state, "folder": Path(state["folder"])})
        return board if board.alive() else None

    def stop(self, timeout: float = 60) -> None:
        """Power the board off (SIGTERM to nspawn: a clean shutdown), SIGKILL if it hangs."""
        for feeder in self.feeders:
            with contextlib.suppress(ProcessLookupError):
                os.kill(feeder, signal.SIGTERM)
            wait_pid_gone(feeder, 10)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.nspawn, signal.SIGTERM)
        if not wait_pid_gone(self.nspawn, timeout):
            for pid in (self.leader, self.nspawn):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_pid_gone(self.nspawn, 10)
        (self.folder / "state.json").unlink(missing_ok=True)


def wait_pid_gone(pid: int, timeout: float) -> bool:
    """Wait for pid to end (its pidfd becomes readable); reap it if it is our child."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ended = bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return ended


def stage_service(step: int, stage: Path) -> list[Path]:
    """`make install-service DESTDIR=stage SERVICE_STEP=step`; the paths to bind, staged."""
    run_make = ["make", "-s", "-C", str(table.ROOT), "install-service"]
    done = subprocess.run(
        [*run_make, f"DESTDIR={stage}", f"SERVICE_STEP={step}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BoardError(f"make install-service: {(done.stderr or done.stdout).strip()}")
    lib = stage / "usr/local/lib/incoming"
    return [lib, *(p for p in sorted(stage.rglob("*")) if p.is_file() and lib not in p.parents)]


def write_ssh_files(folder: Path, port: int) -> None:
    (folder / "sshd_config").write_text(SSHD_CONFIG.format(port=port))
    (folder / "ssh_config").write_text(SSH_CONFIG.format(port=port, key=KEY, folder=folder))
    host_key = (ROOTFS / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
    known = f"[127.0.0.1]:{port} {' '.join(host_key)}\n"
    (folder / "known_hosts").write_text(known + f"board {' '.join(host_key)}\n")
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "ssh"  # what sd-bus's `ssh -xT -p PORT viewer@127.0.0.1` runs
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {folder / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)


def boot(folder: Path, step: int | None = None, echo: bool = True) -> Board:
    """Build if need be, stage step's service, boot; return once the board said READY=1."""
    build(echo=echo)
    step = step or latest_step()
    folder.mkdir(parents=True, exist_ok=True)
    stage = folder / "stage"
    subprocess.run(["rm", "-rf", str(stage)], check=True)
    binds = [f"--bind-ro={p}:/{p.relative_to(stage)}" for p in stage_service(step, stage)]
    port = free_port()
    write_ssh_files(folder, port)
    binds.append(f"--bind-ro={folder / 'sshd_config'}:/etc/ssh/sshd_config")
    notify_path = folder / "notify"
    notify_path.unlink(missing_ok=True)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    console = open(folder / "console.log", "wb")  # noqa: SIM115 (nspawn keeps it)
    argv = [
        "systemd-nspawn", "--quiet", "-D", str(ROOTFS), "--machine=board",
        "--register=no", "--keep-unit", "--volatile=overlay", "--notify-ready=yes",
        "--console=passive", *binds, "--boot",
    ]  # fmt: skip
    started = time.monotonic()
    with notify:
        nspawn = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=console,
            env={**os.environ, "NOTIFY_SOCKET": str(notify_path)},
            start_new_session=True,  # make board returns; the board stays up
        )
        console.close()
        try:
            leader = wait_ready(notify, nspawn, folder / "console.log")
        except BaseException:
            nspawn.kill()
            nspawn.wait()
            raise
    board = Board(folder, nspawn.pid, leader, port, step, time.monotonic() - started)
    board.save()
    return board


def wait_ready(notify: socket.socket, nspawn: subprocess.Popen[bytes], console: Path) -> int:
    """The board's PID 1, once nspawn passed on its READY=1; BoardError if it died first."""
    leader = 0
    deadline = time.monotonic() + BOOT_TIMEOUT
    notify.settimeout(1.0)  # wakes up to see whether nspawn died meanwhile
    while time.monotonic() < deadline:
        if nspawn.poll() is not None:
            tail = " / ".join(console.read_text(errors="replace").strip().splitlines()[-3:])
            raise BoardError(f"systemd-nspawn exited {nspawn.returncode}: {tail}")
        try:
            message = notify.recv(4096).decode(errors="replace")
        except TimeoutError:
            continue
        fields = dict(line.split("=", 1) for line in message.splitlines() if "=" in line)
        leader = int(fields.get("X_NSPAWN_LEADER_PID", leader))
        if fields.get("READY") == "1" and leader:
            return leader
    raise BoardError(f"the board did not say READY=1 within {BOOT_TIMEOUT:.0f} s ({console})")


@contextlib.contextmanager
def booted(folder: Path, step: int | None = None) -> Iterator[Board]:
    board = boot(folder, step, echo=False)
    try:
        yield board
    finally:
        board.stop()


def describe(board: Board) -> str:
    env = f"PATH={shlex.quote(str(board.folder / 'bin'))}:$PATH"
    return (
        f"board: systemd as PID 1 (pid {board.leader} here), booted in {board.boot_seconds:.1f} s, "
        f"step {board.step}'s incoming.service; sshd on 127.0.0.1:{board.port} only\n"
        f"  plot it:   cd steps/{table.get(board.step).dir} && "
        f"{env} python3 client.py --host {board.host()}\n"
        f"  a shell:   make board-ssh   (or CMD='systemctl status incoming', as root)\n"
        f"  its bus:   busctl --address={board.bus_address} tree {NAME}\n"
        f"  stop it:   make board-stop"
    )
