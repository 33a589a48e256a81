"""What another user can reach of this checkout, and a copy where they can reach it.

A checkout in a folder only its owner may enter (a `mktemp -d` folder, any clone under
/root) keeps every other user out of its files, and so may the venv's Python (pyenv's,
in /root). Whatever runs as someone else (step 11's service user, a student account)
gets its files through stage(), and its Python through python_for_everyone():

    folder = other_users.stage(step)                 # the step itself, or a copy others can read
    python, env = other_users.python_for_everyone()  # a Python and PYTHONPATH they can use
"""

from __future__ import annotations

import atexit
import os
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

_staged: dict[Path, Path] = {}


class Unreachable(RuntimeError):
    """Other users cannot run this venv's Python; the message says why, in one line."""


def searchable(folder: Path) -> bool:
    """Can any user get through folder: it and every folder above it searchable by others?"""
    return all(os.stat(each).st_mode & 0o001 for each in (folder, *folder.parents))


def reachable_by_everyone(path: str | os.PathLike[str]) -> bool:
    """Can any user read the file or folder at path?"""
    path = Path(path).absolute()
    return searchable(path.parent) and bool(os.stat(path).st_mode & 0o004)


def temp_base() -> Path:
    """A temporary folder every user can get through: $TMPDIR may be a private one."""
    base = Path(tempfile.gettempdir())
    return base if searchable(base) else Path("/tmp")


def stage(path: str | os.PathLike[str]) -> Path:
    """path itself if every user can reach it; else a copy of it that every user can read.

    The copy keeps the files' modes (hard links where the file system allows: made in a
    moment, no space taken), lives in a folder of mode 755 in /tmp, is made once per
    process and removed when the process ends.
    """
    source = Path(path).resolve()
    if searchable(source if source.is_dir() else source.parent):
        return source
    if source not in _staged:
        base = Path(tempfile.mkdtemp(prefix="incoming-staged-", dir=temp_base()))
        base.chmod(0o755)
        atexit.register(shutil.rmtree, base, True)
        copy = base / source.name
        linked = subprocess.run(["cp", "-al", source, copy], capture_output=True)
        if linked.returncode != 0:  # another file system: a real copy
            shutil.rmtree(copy, ignore_errors=True)
            subprocess.run(["cp", "-a", source, copy], check=True, capture_output=True)
        _staged[source] = copy
    return _staged[source]


def python_for_everyone() -> tuple[str, dict[str, str]]:
    """A Python other users can run, with this venv's packages: ours, or the system's.

    A venv's python is a link to the Python it was made from; when that lives in
    root's home (pyenv), other users run the system's python3 of the same version
    instead. The venv's site-packages go on PYTHONPATH (staged, when others cannot
    reach them where they are).
    """
    ours = os.path.realpath(sys.executable)
    packages = {"PYTHONPATH": str(stage(site.getsitepackages()[0]))}
    if reachable_by_everyone(ours):
        return ours, packages
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/bin:/usr/local/bin")
    if system is None:
        raise Unreachable(f"{ours} is not reachable by other users, and there is no {version}")
    return system, packages
