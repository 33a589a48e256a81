"""`make live-timing`: how long from a save to the status line's verdict, for make live-N.

    python3 -m tools.live_timing [STEPS...] [--saves 5] [--workers W]

For each step (default 1 to 6): make live-N in a tmux server of its own, the
finished step's files saved into live/ again and again (each save a little
different), and the time from each write until the status line says
"step N works" for that save. Prints the median, min and max per step, with the
load average and, as the baseline measured in the same run, one plain `make check-N`
grader run; writes build/live-timing.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import grade, table, typed

OUT = table.ROOT / "build" / "live-timing.json"


def measure(step: table.Step, saves: int, workers: int | None) -> tuple[list[float], list[float]]:
    """Seconds from each save to "step N works", and to every idea ticked off."""
    with tempfile.TemporaryDirectory(prefix="live-timing-") as scratch:
        root = Path(scratch)
        (root / "runtime").mkdir(mode=0o700)
        env = {
            **os.environ,
            "TMUX_TMPDIR": str(root),
            "INCOMING_LIVE": str(root / "live"),
            "XDG_RUNTIME_DIR": str(root / "runtime"),
            "EDITOR": "cat",
        }
        env.pop("TMUX", None)

        def tmux(*args: str) -> str:
            result = subprocess.run(["tmux", *args], env=env, capture_output=True, text=True)
            return result.stdout

        live = [sys.executable, "-m", "tools.live", str(step.n)]
        live += [f"--workers={workers}"] if workers else []
        command = f"cd {table.ROOT} && {' '.join(live)}; sleep 600"
        tmux("new-session", "-d", "-s", "timing", "-x", "200", "-y", "50", command)
        try:
            panes = ["list-panes", "-a", "-F", "#{pane_title}\t#{pane_id}"]
            status = wait(lambda: status_pane(tmux(*panes), step), 60)

            def screen() -> str:
                return tmux("capture-pane", "-p", "-t", status)

            wait(lambda: re.search(r"works|does not work", screen()), 300)
            mine = root / "live" / step.dir
            finished = step.folder(table.ROOT / "steps")
            for path in finished.glob("*.py"):  # the other files step N changes, once
                shutil.copy(path, mine / path.name)
            main = typed.opening(step)[0]
            text = (finished / main).read_text()
            times: list[float] = []
            first: list[float] = []
            run = 0
            for save in range(saves + 1):
                started = time.monotonic()
                (mine / main).write_text(f"{text}\n# save {save}\n")
                ideas_at = 0.0
                while not (shown := works(current := screen(), step, run)):
                    if not ideas_at and ideas_work(current, run):
                        ideas_at = time.monotonic()
                    if time.monotonic() - started > 300:
                        raise SystemExit("live-timing: no verdict in time (is the step broken?)")
                    time.sleep(0.02)
                if save:  # the first one also starts the other files' programs: not counted
                    times.append(time.monotonic() - started)
                    first.append((ideas_at or time.monotonic()) - started)
                run = int(shown)
            return times, first
        finally:
            tmux("kill-server")


def check_seconds(step: table.Step) -> float:
    """The baseline, measured in the same run: one `make check-N` grader run on steps/."""
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += [str(grade.grader_for(step.n)), f"--steps={table.ROOT / 'steps'}"]
    subprocess.run(command, cwd=table.ROOT, capture_output=True)
    return time.monotonic() - started


def status_pane(listing: str, step: table.Step) -> str:
    for line in listing.splitlines():
        title, _, pane = line.partition("\t")
        if title == f"step {step.n}: status":
            return pane
    return ""


def works(screen: str, step: table.Step, after: int) -> str:
    """The run number of a "step N works" newer than run `after`, else ""."""
    found = re.search(rf"✔ step {step.n} works .*?\(#(\d+),", screen)
    return found.group(1) if found and int(found.group(1)) > after else ""


def ideas_work(screen: str, after: int) -> bool:
    """A newer run's status line with every idea ticked off (the basics may still run)."""
    lines = screen.splitlines()
    run = re.search(r"\(#(\d+)", lines[0] if lines else "")
    ideas = [line for line in lines[1:] if line.strip() and "the basics" not in line]
    fresh = bool(run) and int(run.group(1)) > after if run else False
    return fresh and bool(ideas) and all(line.lstrip().startswith("✓") for line in ideas)


def wait(condition, seconds: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise SystemExit("live-timing: no verdict in time (is the step broken?)")
        time.sleep(0.02)
    return value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make live-timing", description=__doc__.splitlines()[0])
    parser.add_argument("steps", nargs="*", type=int, default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    if not shutil.which("tmux"):
        print("live-timing: needs tmux", file=sys.stderr)
        return 1
    results: dict[int, dict[str, list[float]]] = {}
    print(f"save-to-verdict, {args.saves} saves per step, load {os.getloadavg()[0]:.1f}")
    for n in args.steps:
        step = table.get(n)
        times, first = measure(step, args.saves, args.workers)
        check = check_seconds(step)
        results[n] = {"works": times, "ideas": first, "make check": [check]}
        median = statistics.median(times)
        ideas = f", every idea ticked {statistics.median(first):5.2f} s" if n > 1 else ""
        print(
            f"step {n:02d}: works after {median:5.2f} s"
            f" (min {min(times):5.2f}, max {max(times):5.2f})"
            f"{ideas}; make check-{n} alone {check:5.2f} s (x{median / check:.2f})"
            f"; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"cpus": os.cpu_count(), "seconds": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
