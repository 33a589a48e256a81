"""The little of Xlib that make live-N needs, through ctypes (libX11 is there wherever Tk is).

with connection() as x11:       # None: no DISPLAY, no libX11, or no X server there
    ...
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager

Window = ctypes.c_ulong


class Connection:
    def __init__(self, library: ctypes.CDLL, display: int) -> None:
        self.x11, self.display = library, display

    def parent(self, window: int) -> int:
        """The window's parent (for a Tk toplevel: its wrapper, which gets managed)."""
        root, parent, children, count = Window(), Window(), ctypes.c_void_p(), ctypes.c_uint()
        if not self.x11.XQueryTree(self.display, window, root, parent, children, count):
            return window
        if children:
            self.x11.XFree(children)
        return parent.value

    def set_cardinal(self, window: int, name: str, value: int) -> None:
        atom = self.x11.XInternAtom(self.display, name.encode(), 0)
        cardinal = self.x11.XInternAtom(self.display, b"CARDINAL", 0)
        number = ctypes.c_long(value)  # format 32 is a C long in Xlib
        self.x11.XChangeProperty(
            self.display, window, atom, cardinal, 32, 0, ctypes.byref(number), 1
        )


def library() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("X11")
    if not name:
        return None
    try:
        x11 = ctypes.CDLL(name)
    except OSError:
        return None
    pointer, atom = ctypes.c_void_p, ctypes.c_ulong
    x11.XOpenDisplay.restype = pointer
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [pointer]
    x11.XQueryTree.argtypes = [
        pointer, Window, ctypes.POINTER(Window), ctypes.POINTER(Window),
        ctypes.POINTER(pointer), ctypes.POINTER(ctypes.c_uint),
    ]  # fmt: skip
    x11.XFree.argtypes = [pointer]
    x11.XInternAtom.restype = atom
    x11.XInternAtom.argtypes = [pointer, ctypes.c_char_p, ctypes.c_int]
    x11.XChangeProperty.argtypes = [
        pointer, Window, atom, atom, ctypes.c_int, ctypes.c_int, pointer, ctypes.c_int,
    ]  # fmt: skip
    return x11


@contextmanager
def connection() -> Iterator[Connection | None]:
    """A connection to $DISPLAY's X server, closed (and so flushed) at the end; or None."""
    x11 = library() if os.environ.get("DISPLAY") else None
    display = x11.XOpenDisplay(None) if x11 is not None else None
    if x11 is None or not display:
        yield None
        return
    try:
        yield Connection(x11, display)
    finally:
        x11.XCloseDisplay(display)


def display_works() -> bool:
    """Whether $DISPLAY has an X server that takes a connection (as matplotlib asks)."""
    with connection() as x11:
        return x11 is not None
