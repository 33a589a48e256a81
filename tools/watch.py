"""`make watch`: practise the steps in your own copy, graded on every save (like rustlings).

    python3 -m tools.watch [--dir my_steps] [--start N] [--poll]

The first run makes my_steps/ with step 01 solved and step 02 to do (--start 4: step 03
solved, step 04 to do). Each step starts as a copy of your previous one; edit the file
shown, save, and the step's grader (tests/graders/) says which of its ideas work.
Keys: h hint, n next step (once this one passes), l list, r reset this step to its
start, q quit. Where you are and what passed is kept in my_steps/.watch.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import textwrap
import time
import tty
from pathlib import Path

from tools import ideas, table, workcopy
from tools.changes import Saves

RED, GREEN, YELLOW, DIM, BOLD, OFF = (f"\x1b[{code}m" for code in ("31", "32", "33", "2", "1", "0"))
PASSES = "\x1b[1;97;42m"  # bold white on green


def shown(path: Path) -> str:
    """A path as short as it can be said from here."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


class Practice:
    """my_steps/: the attendee's steps, where they are, what passed (.watch.json)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.steps = table.load()
        self.state_file = base / ".watch.json"
        self.current = 2
        self.done: set[int] = set()
        self.given: set[int] = set()
        self.made = ""  # what the first run made, to say so once

    def load(self) -> bool:
        try:
            state = json.loads(self.state_file.read_text())
            self.current = int(state["current"])
            self.done = {int(n) for n in state.get("done", [])}
            self.given = {int(n) for n in state.get("given", [])}
        except (OSError, ValueError, KeyError, TypeError):
            return False
        self.current = min(max(1, self.current), len(self.steps))
        return True

    def save(self) -> None:
        state = {"current": self.current, "done": sorted(self.done), "given": sorted(self.given)}
        self.state_file.write_text(json.dumps(state, indent=1) + "\n")

    def step(self, n: int | None = None) -> table.Step:
        return self.steps[(n or self.current) - 1]

    def folder(self, n: int | None = None) -> Path:
        return self.step(n).folder(self.base)

    def start_copy(self, n: int) -> Path:
        """Where step n's starting point is kept, for r."""
        return self.base / ".start" / self.step(n).dir

    def ensure(self, n: int) -> None:
        """Step n's folder: a copy of your step n-1, else of the finished one (given)."""
        if self.folder(n).exists():
            return
        self.base.mkdir(parents=True, exist_ok=True)
        previous = self.folder(n - 1) if n > 1 else None
        if previous is not None and not previous.exists():
            shutil.copytree(self.step(n - 1).folder(table.ROOT / "steps"), previous)
            self.given.add(n - 1)
            self.done.add(n - 1)
        start = self.start_copy(n)
        if start.exists():
            shutil.rmtree(start)
        start.parent.mkdir(parents=True, exist_ok=True)
        workcopy.make_start(self.step(n), start, previous)
        shutil.copytree(start, self.folder(n))

    def begin(self, start: int | None) -> None:
        fresh = not self.load()
        if start is not None:
            self.current = start
        elif fresh:
            self.current = 2
        self.current = min(max(1, self.current), len(self.steps))
        missing = not self.folder().exists()
        self.ensure(self.current)
        if fresh or missing:
            given = (
                f"step {self.current - 1:02d} solved, " if self.current - 1 in self.given else ""
            )
            self.made = f"made {shown(self.folder())}: {given}"
            self.made += f"step {self.current:02d} to do"
        self.save()

    def next(self) -> str:
        """On to the next step, starting from your own version of this one."""
        if self.current == len(self.steps):
            return "that was the last step: all done!"
        self.current += 1
        kept = self.folder().exists()
        self.ensure(self.current)
        self.save()
        if kept:
            return f"step {self.current:02d}: you had started it already, it is as you left it"
        return f"step {self.current:02d} starts as your step {self.current - 1:02d}"

    def reset(self) -> str:
        """This step back to its start; your version is moved aside, never deleted."""
        folder = self.folder()
        if not self.start_copy(self.current).exists():
            self.start_copy(self.current).parent.mkdir(parents=True, exist_ok=True)
            workcopy.make_start(self.step(), self.start_copy(self.current))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.base / ".backup" / f"{self.step().dir}-{stamp}"
        if folder.exists():
            aside.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(folder, aside)
        shutil.copytree(self.start_copy(self.current), folder)
        kept = f"; yours is in {shown(aside)}" if aside.exists() else ""
        return f"step {self.current:02d} is back at its start{kept}"

    def state(self, n: int) -> str:
        if n in self.given:
            return "given"
        if n in self.done:
            return "done"
        return "to do" if self.folder(n).exists() else "not started"


class Watch:
    def __init__(self, practice: Practice, poll: bool, workers: int | None) -> None:
        self.practice = practice
        self.poll = poll
        self.grader = ideas.Grader(self.update, workers)
        self.verdict = ideas.Verdict(practice.step())
        self.hint = False
        self.listing = False
        self.message = practice.made
        self.quit = asyncio.Event()
        self.saves = Saves(practice.folder(), poll)
        self.watching: asyncio.Task[None] | None = None

    # -- what happens

    def update(self, verdict: ideas.Verdict) -> None:
        self.verdict = verdict
        if verdict.finished and verdict.step.n == self.practice.current:
            n = verdict.step.n
            if verdict.passed and n not in self.practice.done:
                self.practice.done.add(n)
                self.practice.save()
            elif not verdict.passed and n in self.practice.done and n not in self.practice.given:
                self.practice.done.discard(n)
                self.practice.save()
        self.draw()

    async def grade(self) -> None:
        await self.grader.start(self.practice.step(), self.practice.folder())

    async def watch_saves(self) -> None:
        async for _ in self.saves:
            self.message = ""
            await self.grade()

    def follow(self) -> None:
        """Watch the current step's folder (a new one after n)."""
        if self.watching is not None:
            self.watching.cancel()
        self.saves = Saves(self.practice.folder(), self.poll)
        self.watching = asyncio.create_task(self.watch_saves())

    async def key(self, key: str) -> None:
        if key == "q":
            self.quit.set()
            return
        if key == "h":
            self.hint, self.listing = not self.hint, False
        elif key == "l":
            self.listing = not self.listing
        elif key == "r":
            self.message = self.practice.reset()
            self.practice.done.discard(self.practice.current)
            self.practice.save()
            await self.grade()
        elif key == "n":
            if not self.verdict.passed:
                self.message = f"n: step {self.practice.current:02d} does not pass yet"
            else:
                self.message = self.practice.next()
                self.hint = self.listing = False
                self.verdict = ideas.Verdict(self.practice.step())
                self.follow()
                await self.grade()
        self.draw()

    # -- the screen

    def draw(self) -> None:
        width = max(40, min(shutil.get_terminal_size((80, 24)).columns, 100))
        practice, verdict = self.practice, self.verdict
        step = practice.step()
        total = len(practice.steps)
        done = len(practice.done)
        bar = "█" * round(20 * done / total) + "░" * (20 - round(20 * done / total))
        lines = [
            f"{BOLD}step {step.n} of {total}: {step.title}{OFF}",
            f"progress {done}/{total} {GREEN}{bar}{OFF}",
            "",
            *textwrap.wrap(step.idea, width),
            "",
            f"edit {BOLD}{shown(practice.folder() / workcopy.main_file(step))}{OFF}"
            + (
                f" (this step also changes {', '.join(workcopy.changed_files(step)[1:])})"
                if workcopy.changed_files(step)[1:]
                else ""
            )
            + ", then save",  # fmt: skip
            "",
        ]
        if self.listing:
            lines.append(f"{BOLD}the steps{OFF} (l: back)")
            for other in practice.steps:
                state = practice.state(other.n)
                mark = {"given": "✔", "done": "✔", "to do": "✗", "not started": "·"}[state]
                here = "▶" if other.n == step.n else " "
                lines.append(f" {here} {mark} {other.label:48} {state}")
        else:
            lines += self.verdict_lines(verdict, width)
            if self.hint:
                lines += ["", f"{YELLOW}hint:{OFF}"]
                lines += ["  " + line for line in textwrap.wrap(step.hint, width - 2)]
        if self.message:
            lines += ["", f"{YELLOW}{self.message}{OFF}"]
        keys = "h hint · l list · r reset · " + (
            f"{BOLD}n next{OFF} · " if verdict.passed else f"{DIM}n next (once it passes){OFF} · "
        )
        lines += ["", f"{keys}q quit   {DIM}saves: {self.saves.how}{OFF}"]
        screen = "\x1b[H\x1b[2J" + "\n".join(lines)
        with contextlib.suppress(OSError):
            sys.stdout.write(screen)
            sys.stdout.flush()

    def verdict_lines(self, verdict: ideas.Verdict, width: int) -> list[str]:
        n = verdict.step.n
        if verdict.error:
            return [f"{RED}✗ {verdict.error}{OFF}", "", "fix it and save again"]
        lines = []
        for idea in [*verdict.ideas, verdict.basics] if verdict.tests else []:
            mark = {"passed": f"{GREEN}✓", "failed": f"{RED}✗", "pending": f"{DIM}…"}[idea.state]
            why = f"{DIM}: {idea.message}" if idea.message else ""
            lines.append((f"  {mark} {idea.label}{OFF}{why}")[: width + 20] + OFF)
        lines.append("")
        if verdict.passed:
            finished = shown(verdict.step.folder(table.ROOT / "steps"))
            lines.append(f"{PASSES} ✔ step {n} passes! {OFF}  n: on to the next step")
            lines.append(f"{DIM}the finished step, to compare: {finished} (make diff-{n}){OFF}")
        elif verdict.finished:
            lines.append(f"{RED}✗ step {n} does not pass yet{OFF}: change the file, save (h: hint)")
        elif verdict.run:
            lines.append(f"{YELLOW}… grading step {n}{OFF}")
        return lines

    # -- running

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            loop.add_signal_handler(signum, self.quit.set)
        loop.add_signal_handler(signal.SIGWINCH, self.draw)
        loop.add_reader(sys.stdin.fileno(), self.read_key)
        self.follow()
        await self.grade()
        await self.quit.wait()
        if self.watching is not None:
            self.watching.cancel()
        await self.grader.stop()
        return 0

    def read_key(self) -> None:
        data = os.read(sys.stdin.fileno(), 64).decode(errors="replace")
        if not data:
            self.quit.set()
            return
        for key in data.strip() or "":
            asyncio.ensure_future(self.key(key.lower()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make watch", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="my_steps", help="your steps (default: my_steps)")
    parser.add_argument("--start", type=int, default=None, help="go to step N")
    parser.add_argument("--poll", action="store_true", help="poll for saves instead of inotify")
    parser.add_argument("--workers", type=int, default=None, help="pytest processes grading")
    args = parser.parse_args(argv)
    base = Path(args.dir)
    base = base if base.is_absolute() else table.ROOT / base
    practice = Practice(base)
    if args.start is not None and not 1 <= args.start <= len(practice.steps):
        print(f"watch: no step {args.start}: the steps are 1 to {len(practice.steps)}")
        return 1
    practice.begin(args.start)
    old = termios.tcgetattr(sys.stdin) if sys.stdin.isatty() else None
    if old is not None:
        tty.setcbreak(sys.stdin)
    sys.stdout.write("\x1b[?25l")  # no cursor
    try:
        return asyncio.run(Watch(practice, args.poll, args.workers).run())
    finally:
        if old is not None:
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, old)
        sys.stdout.write("\x1b[?25h\n")
        print(f"watch: progress {len(practice.done)}/{len(practice.steps)} (make watch to go on)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
