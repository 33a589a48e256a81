"""The plot window of `make live-N`: one window that stays where the presenter put it.

A matplotlib backend (TkAgg underneath) that only the live pane's client uses:

    MPLBACKEND=module://tools.live_window  INCOMING_PLOT_WINDOW=live/.plot-window

(tools/live.py sets both, and the repo root on PYTHONPATH, for a plotting client when make
live-N has a display; the steps' chart.py knows nothing of it.) Every save restarts the
client, and each start opens a new window. This one opens:

- at the geometry (position and size) the previous one had: every move or resize is written
  to the file INCOMING_PLOT_WINDOW, and the next window reads it;
- else on the right of a 1280x720 screen (the projector's), toolbar and title bar within it;
- never larger than 1280x720, and always on the screen;
- without taking the keyboard focus from the editor (_NET_WM_USER_TIME 0: the window
  manager does not focus it when it maps it; Tk itself has no way to say so);
- with one title, whatever the figure's number.
"""

from __future__ import annotations

import contextlib
import os
import re
import tkinter as tk
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_tkagg import FigureCanvasTkAgg, FigureManagerTk, _BackendTkAgg

from tools import xlib

SCREEN = (1280, 720)  # the projector's: the window fits it, toolbar included
TITLE_BAR = 40  # what a window manager adds above: room for it in the default height
TITLE = "make live: the plot"
MINIMUM = 100  # a saved size below this is not one the presenter gave
STATE = "INCOMING_PLOT_WINDOW"  # the file the geometry is kept in


@dataclass(frozen=True)
class Geometry:
    width: int
    height: int
    x: int
    y: int

    def __str__(self) -> str:  # as Tk's `wm geometry` takes it
        return f"{self.width}x{self.height}+{self.x}+{self.y}"


def parse(text: str) -> Geometry | None:
    """Tk's `wm geometry` (WxH+X+Y; an X or Y may be +-5), or None."""
    match = re.fullmatch(r"\s*(\d+)x(\d+)\+(-?\d+)\+(-?\d+)\s*", text)
    if not match:
        return None
    width, height, x, y = map(int, match.groups())
    return Geometry(width, height, x, y) if min(width, height) >= MINIMUM else None


def default(wanted: tuple[int, int], screen: tuple[int, int]) -> Geometry:
    """The window's own size, shrunk to fit a 1280x720 screen with a title bar, at its right."""
    area = (min(screen[0], SCREEN[0]), min(screen[1], SCREEN[1]))
    width = min(wanted[0], area[0])
    height = min(wanted[1], area[1] - TITLE_BAR)
    return Geometry(width, height, area[0] - width, 0)


def fit(saved: Geometry, screen: tuple[int, int]) -> Geometry:
    """A saved geometry no larger than 1280x720 (nor the screen), moved onto the screen."""
    width = min(saved.width, SCREEN[0], screen[0])
    height = min(saved.height, SCREEN[1], screen[1])
    x = max(0, min(saved.x, screen[0] - width))
    y = max(0, min(saved.y, screen[1] - height))
    return Geometry(width, height, x, y)


def state_file() -> Path | None:
    name = os.environ.get(STATE)
    return Path(name) if name else None


def load() -> Geometry | None:
    path = state_file()
    if path is None:
        return None
    try:
        return parse(path.read_text())
    except OSError:
        return None


def store(geometry: Geometry) -> None:
    """Write it whole (a rename): the next client never reads half a line."""
    path = state_file()
    if path is None:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text(f"{geometry}\n")
        partial.replace(path)


def not_focused_on_map(window: tk.Tk) -> None:
    """_NET_WM_USER_TIME 0 on the window before it maps: an EWMH window manager then does not
    give it the focus (the presenter goes on typing in the editor). Tk cannot set a property
    itself: Xlib (tools/xlib.py), on a connection of our own; nothing happens without one.
    The property goes on Tk's wrapper (the toplevel's parent), the window that gets managed."""
    window.update_idletasks()
    window.wm_frame()  # Tk makes its wrapper now (matplotlib's window already has it)
    with xlib.connection() as x11:
        if x11 is not None:
            x11.set_cardinal(x11.parent(window.winfo_id()), "_NET_WM_USER_TIME", 0)


class PlotWindow(FigureManagerTk):
    """TkAgg's window, placed where the last one was, and keeping track of where it goes."""

    def __init__(self, canvas: Any, num: int, window: tk.Tk) -> None:
        super().__init__(canvas, num, window)
        window.update_idletasks()  # the requested size: the figure's, plus the toolbar
        screen = (window.winfo_screenwidth(), window.winfo_screenheight())
        saved = load()
        wanted = (window.winfo_reqwidth(), window.winfo_reqheight())
        self.geometry = fit(saved, screen) if saved else default(wanted, screen)
        window.wm_geometry(str(self.geometry))
        window.bind("<Configure>", self.configured, add="+")
        not_focused_on_map(window)

    def set_window_title(self, title: str) -> None:
        self.window.wm_title(TITLE)  # "Figure 2" after a re-setup: still the same window

    def configured(self, event: tk.Event) -> None:  # type: ignore[type-arg]
        """Moved or resized (every widget's <Configure> comes here too: only the window's)."""
        window: tk.Tk = self.window
        if event.widget is not window or not window.winfo_viewable():
            return
        now = parse(window.wm_geometry())
        if now is not None and now != self.geometry:
            self.geometry = now
            store(now)


class FigureCanvasLiveWindow(FigureCanvasTkAgg):
    manager_class = PlotWindow  # type: ignore[assignment]


@_BackendTkAgg.export
class _BackendLiveWindow(_BackendTkAgg):
    FigureCanvas = FigureCanvasLiveWindow
    FigureManager = PlotWindow
