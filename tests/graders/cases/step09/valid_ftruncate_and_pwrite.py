# replaces: memfd.py
# what: ftruncate() sizes the memfd, then pwrite() at offsets fills it, not write()
"""Sealed memfds: bytes handed to another process as a file descriptor, not copied.

memfd_create() makes a file that lives in memory only. The sender writes it,
then seals it: after F_SEAL_WRITE, F_SEAL_SHRINK and F_SEAL_GROW nobody, not
even the sender, can change its bytes or its size, and F_SEAL_SEAL stops
anyone from lifting that. So a receiver that checks the seals once can map it
and read it at its own pace: the contents cannot change under it (no
check-then-use race) and it cannot shrink under it (no SIGBUS halfway through).
Without the seals, a receiver would have to copy the bytes before trusting them.
"""

import fcntl
import mmap
import os

SEALS = {
    fcntl.F_SEAL_WRITE: "write",
    fcntl.F_SEAL_SHRINK: "shrink",
    fcntl.F_SEAL_GROW: "grow",
    fcntl.F_SEAL_SEAL: "seal",
}
ALL_SEALS = sum(SEALS)


class NotSealed(ValueError):
    """The fd is not a memfd, or its sender could still change it: refuse it."""


def sealed(data, name="incoming"):
    """A new memfd holding data, sealed for good; the caller closes it."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, len(data))  # its size first, then the bytes at their offsets
        view, offset = memoryview(data), 0
        while offset < len(view):
            offset += os.pwrite(fd, view[offset:], offset)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, ALL_SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check(fd):
    """Raise NotSealed unless fd is a memfd that nobody can change any more."""
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError:  # EINVAL: a pipe, a socket, a file on disk... not a memfd
        raise NotSealed(f"not a memfd but {what(fd)}") from None
    missing = [name for seal, name in SEALS.items() if not seals & seal]
    if missing:
        raise NotSealed(f"{what(fd)} is not sealed against: {', '.join(missing)}")


def what(fd):
    """What fd is, as /proc says: "pipe:[1234]", "/memfd:name (deleted)", a path."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"fd {fd} (not open)"


def read_sealed(fd):
    """Map a sealed memfd read-only and return the mapping (bytes-like); closes fd.

    Nothing is copied: the mapping shares the sender's pages. mmap keeps its own
    duplicate of the fd, so ours is closed here whatever happens.
    """
    try:
        check(fd)
        size = os.fstat(fd).st_size
        if size == 0:
            return b""  # mmap cannot map an empty file
        return mmap.mmap(fd, size, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
