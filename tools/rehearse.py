"""`make rehearse`: the run sheet (slides/runsheet.toml) played through, part by part.

    python3 -m tools.rehearse [--parts 2,4] [--width 120 --height 35]

Each "live" part is make live-N in a tmux server of its own, at the projector's size,
with the idea's hunks (slides/typed.toml) saved into live/ one by one, as the presenter
would type them; each save waits for the status line's next verdict, and the last one for
"step N works". A part's time is its typing at 5 lines a minute (not waited for: that is
the presenter's) plus the measured waits: the window opening to its first verdict, and
every save's verdict. A "finished" part is make live-N SOLVED=1 until it says it works.
"slides" parts are talk: their budget is printed as is. The table goes to stdout and
build/rehearse.json; the projector's screen of the last live part to build/live-WxH.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tools import table, typed

RUNSHEET = table.ROOT / "slides" / "runsheet.toml"
BUILD = table.ROOT / "build"
VERDICT_SECONDS = 300  # a grader that says nothing for this long is broken, not slow


def load(path: Path = RUNSHEET) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


@dataclass
class Result:
    label: str
    budget: float  # minutes
    typing: float = 0.0  # minutes, computed
    waits: float = 0.0  # minutes, measured
    measured: bool = False

    @property
    def total(self) -> float:
        return self.typing + self.waits


class Window:
    """make live-N in a tmux server of our own, at the projector's size."""

    def __init__(self, scratch: Path, step: table.Step, solved: bool, size: tuple[int, int]):
        self.step = step
        (scratch / "runtime").mkdir(mode=0o700, exist_ok=True)
        self.live = scratch / "live"
        self.env = {
            **os.environ,
            "TMUX_TMPDIR": str(scratch),
            "INCOMING_LIVE": str(self.live),
            "XDG_RUNTIME_DIR": str(scratch / "runtime"),
            "EDITOR": "cat",  # the saves are ours: no editor holds the file
        }
        self.env.pop("TMUX", None)
        self.env.pop("DISPLAY", None)  # a plot window is not for a rehearsal
        command = [sys.executable, "-m", "tools.live", str(step.n), *["--solved"] * solved]
        shell = f"cd {table.ROOT} && {' '.join(command)}; sleep 600"
        width, height = size
        self.tmux("new-session", "-d", "-s", "rehearse", "-x", str(width), "-y", str(height), shell)
        self.status = self.wait(self.status_pane, 60)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", *args], env=self.env, capture_output=True, text=True)
        return result.stdout

    def status_pane(self) -> str:
        listing = self.tmux("list-panes", "-a", "-F", "#{pane_title}\t#{pane_id}")
        for line in listing.splitlines():
            title, _, pane = line.partition("\t")
            if title == f"step {self.step.n}: status":
                return pane
        return ""

    def verdict(self, after: int) -> tuple[int, bool] | None:
        """(run, works) of a verdict newer than run `after`, or None."""
        head = self.tmux("capture-pane", "-p", "-t", self.status).splitlines()[:1]
        found = re.search(r"(works|does not work yet).*?#(\d+)", head[0] if head else "")
        if not found or int(found.group(2)) <= after:
            return None
        return int(found.group(2)), found.group(1) == "works"

    def wait(self, condition: Callable[[], Any], seconds: float) -> Any:
        deadline = time.monotonic() + seconds
        while not (value := condition()):
            if time.monotonic() > deadline:
                raise SystemExit(f"rehearse: step {self.step.n}: no verdict in {seconds:.0f} s")
            time.sleep(0.05)
        return value

    def screen(self) -> str:
        """The whole window as text: every pane's capture at its place."""
        layout = "#{pane_left} #{pane_top} #{pane_width} #{pane_height} #{pane_id}"
        size = self.tmux(
            "display-message", "-p", "-t", self.status, "#{window_width} #{window_height}"
        )
        width, height = map(int, size.split())
        grid = [[" "] * width for _ in range(height)]
        for line in self.tmux("list-panes", "-t", self.status, "-F", layout).splitlines():
            left, top, columns, rows, pane = line.split()
            x, y, w, h = int(left), int(top), int(columns), int(rows)
            text = self.tmux("capture-pane", "-p", "-t", pane).splitlines()
            for row, content in enumerate(text[:h]):
                for column, char in enumerate(content[:w]):
                    grid[y + row][x + column] = char
            if y > 0:
                title = f"─ {pane} {w}x{h} "
                for column, char in enumerate(title[:w]):
                    grid[y - 1][x + column] = char
        return "\n".join("".join(row).rstrip() for row in grid) + "\n"

    def close(self) -> None:
        self.tmux("kill-server")


def live_part(step: table.Step, size: tuple[int, int], screen_to: Path | None) -> float:
    """Seconds waited in make live-N: the first verdict, then one per save of a hunk."""
    cuts = typed.cuts(step)
    with tempfile.TemporaryDirectory(prefix="rehearse-") as scratch:
        window = Window(Path(scratch), step, False, size)
        try:
            started = time.monotonic()
            run, works = window.wait(lambda: window.verdict(0), VERDICT_SECONDS)
            waited = time.monotonic() - started
            if works:
                raise SystemExit(f"rehearse: live-{step.n} works before anything is typed")
            folder = window.live / step.dir
            for done in range(1, len(cuts) + 1):
                name = cuts[done - 1].hunk.file
                text = typed.without(step, [cut for cut in cuts[done:] if cut.hunk.file == name])
                saved = time.monotonic()
                (folder / name).write_text(
                    text.get(name) or (step.folder(table.ROOT / "steps") / name).read_text()
                )
                run, works = window.wait(partial(window.verdict, run), VERDICT_SECONDS)
                waited += time.monotonic() - saved
            if not works:
                raise SystemExit(f"rehearse: live-{step.n}: every hunk typed, and it does not work")
            if screen_to is not None:
                screen_to.parent.mkdir(parents=True, exist_ok=True)
                screen_to.write_text(window.screen())
            return waited
        finally:
            window.close()


def finished_part(step: table.Step, size: tuple[int, int]) -> float:
    with tempfile.TemporaryDirectory(prefix="rehearse-") as scratch:
        window = Window(Path(scratch), step, True, size)
        try:
            started = time.monotonic()
            run, works = window.wait(lambda: window.verdict(0), VERDICT_SECONDS)
            if not works:
                raise SystemExit(f"rehearse: the finished step {step.n} does not work")
            return time.monotonic() - started
        finally:
            window.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make rehearse", description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="", help="only these parts (1-based), e.g. 2,4")
    parser.add_argument("--width", type=int, default=120)
    parser.add_argument("--height", type=int, default=35)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # the finally: blocks run
    if not shutil.which("tmux"):
        print("rehearse: needs tmux (Debian/Ubuntu: apt install tmux)", file=sys.stderr)
        return 1
    sheet = load()
    chosen = {int(part) for part in args.parts.split(",") if part}
    size = (args.width, args.height)
    screen = BUILD / f"live-{args.width}x{args.height}.txt"
    results: list[Result] = []
    print(f"{'part':<44} {'budget':>6} {'typing':>6} {'waits':>6} {'total':>6}", flush=True)
    for number, part in enumerate(sheet["part"], 1):
        if chosen and number not in chosen:
            continue
        if part["kind"] == "slides":
            result = Result(f"{number:2}. slides: {part['title'][:32]}", part["minutes"])
        else:
            step = table.get(part["step"])
            result = Result(f"{number:2}. {part['kind']} step {step.n}: {step.title[:20]}",
                            part["minutes"], measured=True)  # fmt: skip
            if part["kind"] == "live":
                result.typing = typed.to_type(step) / typed.LINES_PER_MINUTE
                result.waits = live_part(step, size, screen) / 60
            else:
                result.waits = finished_part(step, size) / 60
        results.append(result)
        print(row(result), flush=True)
    budget = sum(result.budget for result in results)
    spent = sum(result.total if result.measured else result.budget for result in results)
    print(f"{'all parts (slides at their budget)':<44} {budget:6.1f} {'':>6} {'':>6} {spent:6.1f}")
    print(f"the slot: {sheet['talk']} min, {sheet['slack']} min slack kept; load {load_average()}")
    BUILD.mkdir(exist_ok=True)
    (BUILD / "rehearse.json").write_text(
        json.dumps([result.__dict__ for result in results], indent=1) + "\n"
    )
    return 0 if all(r.total <= r.budget for r in results if r.measured) else 1


def row(result: Result) -> str:
    if not result.measured:
        return f"{result.label:<44} {result.budget:6.1f} {'talk':>6} {'':>6} {result.budget:6.1f}"
    over = "  OVER" if result.total > result.budget else ""
    return (
        f"{result.label:<44} {result.budget:6.1f} {result.typing:6.1f} {result.waits:6.1f}"
        f" {result.total:6.1f}{over}"
    )


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
