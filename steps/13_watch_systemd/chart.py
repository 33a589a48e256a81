"""The plotting side of client.py: one live chart per source, with matplotlib.

The title says how systemd sees the service (about()); a red line on every
chart marks each moment it stopped (mark()).

What a chart shows depends on what its source sends:
    numbers ("0.42")        the values
    "rising" / "falling"    a 0/1 step line (a GPIO line)
    anything else           the message rate, per second
Each chart keeps its last WINDOW points; a point that came and went between two
frames was never drawn, and the chart's title counts it as skipped.
"""

import os
import time
from collections import deque

import matplotlib

WINDOW = 300  # points per chart
EDGES = {"rising": 1, "falling": 0}
NON_INTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


class Series:
    def __init__(self):
        self.times, self.values = deque(maxlen=WINDOW), deque(maxlen=WINDOW)
        self.recent = deque()  # arrival times in the last second, for rates
        self.kind, self.received, self.new, self.skipped = None, 0, 0, 0

    def add(self, seconds, text):
        if self.kind is None:  # the first message decides what this chart shows
            number = _number(text) is not None  # "0.000" is a number too
            self.kind = "edges" if text in EDGES else "values" if number else "rate"
        self.recent.append(seconds)
        while self.recent[0] <= seconds - 1:
            self.recent.popleft()
        value = {
            "edges": EDGES.get(text),
            "values": _number(text),
            "rate": len(self.recent),
        }
        if value[self.kind] is not None:
            self.times.append(seconds)
            self.values.append(value[self.kind])
        self.received += 1
        self.new += 1


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


class LiveCharts:
    def __init__(self, save=None):
        screen = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        backend = str(matplotlib.get_backend(auto_select=False))  # %matplotlib widget?
        in_jupyter = "ipympl" in backend or "widget" in backend
        headless = save or not (screen or in_jupyter)
        if headless:
            matplotlib.use("Agg")  # no window: draw into memory, save a picture
        import matplotlib.pyplot as plt

        self.plt, self.save_to = plt, save or "plot.png"
        self.headless = headless or plt.get_backend().lower() in NON_INTERACTIVE
        self.figure, self.axes, self.series, self.frames = None, {}, {}, []
        self.start_ns = time.time_ns()
        # systemd's view; when it stopped (s); how many of those are drawn
        self.unit, self.marks, self.marked = "", [], 0

    def setup(self, sources):
        """One chart per source, stacked, sharing the time axis."""
        if list(self.series) == list(sources):
            return
        self.plt.close("all")
        # 600 px at most: on a 720 px screen the toolbar still fits
        height = min(6, 2 + 1.3 * len(sources))
        self.figure, axes = self.plt.subplots(
            len(sources), 1, sharex=True, squeeze=False, figsize=(8, height), dpi=100
        )
        self.axes = {
            source: (ax[0], ax[0].plot([], [])[0]) for source, ax in zip(sources, axes)
        }
        self.series = {source: Series() for source in sources}
        self.marked = 0  # a new figure: its markers are still to draw
        self.axes[sources[-1]][0].set_xlabel("seconds")
        if not self.headless:
            self.plt.show(block=False)

    def add(self, source, timestamp_ns, text):
        if source in self.series:
            self.series[source].add((timestamp_ns - self.start_ns) / 1e9, text)

    def about(self, text):
        """What systemd says about the service: the second line of the title."""
        self.unit = text

    def mark(self):
        """A marker on every chart, now (the service stopped); its time in seconds."""
        self.marks.append((time.time_ns() - self.start_ns) / 1e9)
        return self.marks[-1]

    def draw(self):
        """Redraw every chart; False once the window has been closed."""
        if self.figure is None:
            return True
        if not self.headless and not self.plt.fignum_exists(self.figure.number):
            return False
        live = "" if self.headless else ", live"  # a picture is not live
        title = f"{len(self.series)} sources of org.example.Incoming{live}"
        self.figure.suptitle(
            f"{title}\n{self.unit}" if self.unit else title, fontsize=10
        )
        for seconds in self.marks[self.marked :]:
            for ax, _ in self.axes.values():
                ax.axvline(seconds, color="red", linestyle="--", linewidth=1.5)
        self.marked = len(self.marks)
        for source, (ax, line) in self.axes.items():
            series = self.series[source]
            series.skipped += max(0, series.new - WINDOW)
            series.new = 0
            line.set_data(series.times, series.values)
            line.set_drawstyle("steps-post" if series.kind == "edges" else "default")
            skipped = f", {series.skipped} skipped" if series.skipped else ""
            unit = {"rate": " (messages/s)", None: ""}.get(series.kind, "")
            ax.set_title(
                f"{source}{unit}: {series.received} messages{skipped}", fontsize=9
            )
            ax.relim()
            ax.autoscale_view()
        if span := self._time_span():
            ax.set_xlim(*span)  # the charts share their time axis: this sets them all
        self.figure.tight_layout()
        self.figure.canvas.draw_idle()
        self.figure.canvas.flush_events()
        if self.headless and self.save_to.endswith(".gif"):
            self.frames.append(self._frame())
        return True

    def _time_span(self):
        """The seconds every chart has points for. A chart keeps its last WINDOW
        points: a busy source's span less time than a quiet one's, and would start
        mid-axis. The markers count too, until a full chart's window has moved past
        them, with a little room: at the very edge, the axes' frame hides a marker."""
        kept = [
            series.times for series in self.series.values() if len(series.times) > 1
        ]
        if not kept:
            return None
        full = [times[0] for times in kept if len(times) == WINDOW]
        start = max(full) if full else min([times[0] for times in kept] + self.marks)
        end = max([times[-1] for times in kept] + self.marks)
        if end <= start:
            return None
        room = (end - start) / 50 if self.marks else 0
        return (start - room, end + room)

    def _frame(self):
        from PIL import Image

        self.figure.canvas.draw()
        size = self.figure.canvas.get_width_height()
        rgba = Image.frombuffer(
            "RGBA", size, self.figure.canvas.buffer_rgba(), "raw", "RGBA", 0, 1
        )
        return rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)

    def save(self):
        """Write the picture (PNG) or the animation (GIF) of what was drawn."""
        self.draw()
        if self.frames:
            first, *others = self.frames
            first.save(
                self.save_to, save_all=True, append_images=others, duration=100, loop=0
            )
        else:
            self.figure.savefig(self.save_to)
