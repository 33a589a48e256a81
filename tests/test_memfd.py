"""Step 09's memfd.py, in this process: seals made and checked, bad fds refused, no fd leaked.

Each test counts this process's open fds (/proc/self/fd) before and after.
"""

from __future__ import annotations

import fcntl
import importlib.util
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tools import table

STEP = table.get(9).folder(table.ROOT / "steps")


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("step09_memfd", STEP / "memfd.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


memfd = load()


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_fd_leaked() -> Iterator[None]:
    before = open_fds()
    yield
    assert open_fds() == before, "file descriptors leaked"


def test_sealed_then_read_gives_the_bytes_without_a_copy() -> None:
    data = os.urandom(3 * mmap.PAGESIZE + 5)
    fd = memfd.sealed(data)
    assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) == memfd.ALL_SEALS
    with pytest.raises(PermissionError):
        os.pwrite(fd, b"changed", 0)  # F_SEAL_WRITE: not even its creator can
    with pytest.raises(PermissionError):
        os.ftruncate(fd, 1)  # F_SEAL_SHRINK
    mapped = memfd.read_sealed(fd)  # closes fd
    assert isinstance(mapped, mmap.mmap) and mapped[:] == data
    mapped.close()


def test_empty_snapshot() -> None:
    assert memfd.read_sealed(memfd.sealed(b"")) == b""


def unsealed(seals: int = 0) -> int:
    fd = os.memfd_create("test", os.MFD_ALLOW_SEALING)
    os.write(fd, b"changeable")
    if seals:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return fd


@pytest.mark.parametrize(
    ("seals", "missing"),
    [
        (0, "write, shrink, grow, seal"),
        (fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL, "write"),
        (fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL, "shrink"),
        (fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW, "seal"),
    ],
)
def test_a_memfd_missing_a_seal_is_refused(seals: int, missing: str) -> None:
    with pytest.raises(memfd.NotSealed, match=f"not sealed against: {missing}$"):
        memfd.read_sealed(unsealed(seals))


def test_a_memfd_without_sealing_at_all_is_refused() -> None:
    fd = os.memfd_create("no-sealing")  # F_SEAL_SEAL from birth: it can never be sealed
    with pytest.raises(memfd.NotSealed, match="write, shrink, grow$"):
        memfd.read_sealed(fd)


def test_a_pipe_is_not_a_memfd() -> None:
    read_end, write_end = os.pipe()
    os.close(write_end)
    with pytest.raises(memfd.NotSealed, match=r"not a memfd but pipe:\[\d+\]"):
        memfd.read_sealed(read_end)


def test_a_file_on_disk_is_not_a_memfd(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_bytes(b"a plain file")
    fd = os.open(path, os.O_RDONLY)
    with pytest.raises(memfd.NotSealed, match=f"{path}"):  # on tmpfs: sealable never
        memfd.read_sealed(fd)
