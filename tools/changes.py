"""Saves of Python files in a folder, as they happen: watchfiles (inotify), or polling.

inotify sees nothing of what an editor outside Linux writes into a shared folder (a
Windows folder under WSL2, a VirtualBox or network share): there the folder is polled.
That is chosen automatically from the folder's file system, or forced with POLL=1.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import watchfiles

# File systems whose changes from the other side of a share raise no inotify event.
SHARED = {
    "9p": "a WSL2 Windows folder",
    "drvfs": "a WSL Windows folder",
    "cifs": "a Windows share",
    "smb3": "a Windows share",
    "smbfs": "a Windows share",
    "nfs": "an NFS share",
    "nfs4": "an NFS share",
    "vboxsf": "a VirtualBox shared folder",
    "fuse.vmhgfs-fuse": "a VMware shared folder",
    "prl_fs": "a Parallels shared folder",
    "fuse.sshfs": "an sshfs folder",
}
STEP_MS = 50  # a save is over once nothing changed for this long (debounce)
POLL_MS = 300


def file_system(folder: Path) -> str:
    """The type of the file system folder is on (from /proc/self/mounts; "" if unknown)."""
    best, kind = "", ""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return ""
    target = str(folder.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def choose(folder: Path, poll: bool = False) -> tuple[bool, str]:
    """(poll?, why): polling where inotify would miss the saves, or when asked to."""
    if poll or os.environ.get("POLL", "") not in ("", "0"):
        return True, "polling (POLL=1)"
    shared = SHARED.get(file_system(folder))
    if shared:
        return True, f"polling ({shared})"
    return False, "inotify"


def python_file(change: watchfiles.Change, path: str) -> bool:
    """Only saves of .py files count (not an editor's swap and backup files, not bytecode)."""
    return path.endswith(".py") and "__pycache__" not in path


class Saves:
    """The saves in one folder; .how says how they are seen (inotify or polling, and why)."""

    def __init__(
        self, folder: Path, poll: bool = False, names: frozenset[str] = frozenset()
    ) -> None:
        """names: files besides *.py whose saves count (a step's unit and policy files)."""
        self.folder = folder
        self.names = names
        self.poll, self.how = choose(folder, poll)

    def counts(self, change: watchfiles.Change, path: str) -> bool:
        return python_file(change, path) or Path(path).name in self.names

    async def __aiter__(self) -> AsyncIterator[set[Path]]:
        """Each save (debounced) as the set of files it changed (.py, and those named)."""
        while True:
            try:
                async for batch in watchfiles.awatch(
                    self.folder,
                    watch_filter=self.counts,
                    step=STEP_MS,
                    force_polling=self.poll,
                    poll_delay_ms=POLL_MS,
                ):
                    yield {Path(path) for _, path in batch}
                return
            except OSError as error:  # e.g. no inotify watches left: poll instead
                if self.poll:
                    raise
                self.poll, self.how = True, f"polling (inotify: {error.strerror or error})"
