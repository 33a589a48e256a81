"""Build the board's root filesystem from Debian's packages, once, under build/board/.

    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,openssh-server,python3

from the mirror this machine's apt uses, of this machine's own Debian release (so the
board's python3 is the host's: `make install-service` runs the host's pip for it). Then:
a throwaway ssh key (build/board/key, never ~/.ssh) for root and for `viewer`, an
unprivileged user; no ssh.socket and no getty; the hostname `board`. The port sshd
listens on is chosen at each boot (machine.py), so nothing here listens anywhere.

`ready` in build/board/ holds the digest of this file: a changed recipe builds again.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from tools.container import mirror
from tools.table import ROOT

CACHE = ROOT / "build" / "board"
ROOTFS = CACHE / "root"
KEY = CACHE / "key"  # the client's private key; KEY.pub is authorized on the board
READY = CACHE / "ready"
VIEWER = "viewer"  # the board's unprivileged user: may call and plot, may not own the name
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3")
# Units that would listen, or wait for a terminal nobody has: the board never starts them.
MASKED = ("ssh.socket", "console-getty.service", "getty@.service", "systemd-networkd.socket")


class BoardError(Exception):
    """Why the board cannot be built or booted here, in one line."""


def run(argv: list[str | os.PathLike[str]], what: str, **kwargs: object) -> str:
    """Run a command; its failure becomes a BoardError naming what we were doing."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    except FileNotFoundError:
        raise BoardError(f"{what}: {os.fspath(argv[0])} not found") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BoardError(f"{what} failed (exit {done.returncode}): {' / '.join(detail)}")
    return str(done.stdout)


def recipe() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def is_ready() -> bool:
    try:
        return READY.read_text().split()[-1] == recipe() and ROOTFS.is_dir()
    except (OSError, IndexError):
        return False


def unavailable() -> str | None:
    """Why no board can boot here (one line), or None."""
    if os.uname().sysname != "Linux" or os.geteuid() != 0:
        return "needs Linux and root (debootstrap, systemd-nspawn): run it as root"
    for tool in ("systemd-nspawn", "debootstrap", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            return f"{tool} is not installed (make board-setup installs it)"
    if not suite():
        return "not a Debian machine (/etc/os-release names no Debian release)"
    return None


def suite() -> str:
    """This machine's Debian release (bookworm), or "" elsewhere."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return ""
    if not re.search(r"^ID=\"?debian\"?$", text, re.M):
        return ""
    found = re.search(r"^VERSION_CODENAME=\"?(\w+)\"?$", text, re.M)
    return found.group(1) if found else ""


def build(echo: bool = True) -> float:
    """Make the root filesystem unless it is ready; the seconds it took (0: it was ready)."""
    if reason := unavailable():
        raise BoardError(reason)
    if is_ready():
        return 0.0
    started = time.monotonic()
    url, release = mirror(), suite()
    if echo:
        print(f"board: debootstrap --variant=minbase {release} {url} (a few minutes, once)")
    CACHE.mkdir(parents=True, exist_ok=True)
    tree = CACHE / "root.tmp"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.rmtree(ROOTFS, ignore_errors=True)
    argv: list[str | os.PathLike[str]] = ["debootstrap", "--variant=minbase"]
    run([*argv, f"--include={','.join(PACKAGES)}", release, tree, url], "debootstrap")
    configure(tree)
    tree.rename(ROOTFS)
    READY.write_text(f"built in {time.monotonic() - started:.0f} s, recipe {recipe()}\n")
    return time.monotonic() - started


def configure(tree: Path) -> None:
    """The key, the users, the hostname, the masked units; apt's lists and caches dropped."""
    (tree / "etc/hostname").write_text("board\n")
    for unit in MASKED:
        (tree / "etc/systemd/system" / unit).unlink(missing_ok=True)
        (tree / "etc/systemd/system" / unit).symlink_to("/dev/null")
    host_python = os.path.realpath("/usr/bin/python3")
    board_python = os.path.realpath(tree / "usr/bin/python3")
    if Path(host_python).name != Path(board_python).name:
        raise BoardError(f"the board has {Path(board_python).name}, this machine {host_python}")
    KEY.unlink(missing_ok=True)
    KEY.with_suffix(".pub").unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "board", "-f", KEY], "ssh-keygen")
    # --password '*': no password, yet not locked (a locked account may not log in by key either)
    useradd: list[str | os.PathLike[str]] = [
        "useradd",
        "--root",
        tree,
        "--create-home",
        "--shell",
        "/bin/sh",
        "--password",
        "*",
    ]
    run([*useradd, VIEWER], "useradd")
    key = KEY.with_suffix(".pub").read_text()
    for home in (tree / "root", tree / "home" / VIEWER):
        ssh = home / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        (ssh / "authorized_keys").write_text(key)
        owner = (home.stat().st_uid, home.stat().st_gid)
        for path in (ssh, ssh / "authorized_keys"):
            os.chown(path, *owner)
    for junk in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for path in (tree / junk).glob("*"):
            if path.is_file():
                path.unlink()
