"""`make grade-timing`: how fast and how right the graders' verdicts are, before and after.

    python3 -m tools.grade_timing [--before REV] [--step N ...] [--no-watch]

A benchmark, not a test. For every case in tests/graders/cases/ (tools/grade_cases.py):
the seconds from `make check-N` starting to its verdict, and from a save to the verdict
in `make watch` (its grader, tools/ideas.Grader, without the file watcher's own latency:
the time until the verdict is known, a failed idea or every test passed), with this
checkout's graders ("after") and with those of REV ("before", default b2e6d0d, the
graders before the issue-21 work, from `git archive` into a scratch folder). Prints a
table per step: mistakes caught / written, alternatives passing, median and slowest
seconds; and one why line per step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tools import grade_cases, table

BEFORE = "b2e6d0d"
WATCH = """
import asyncio, json, sys, time
from pathlib import Path
from tools import ideas, table
step, folder = table.get(int(sys.argv[1])), Path(sys.argv[2])
async def main():
    known = asyncio.Event()
    def seen(verdict):
        if verdict.failed or verdict.finished:
            known.set()
    grader = ideas.Grader(seen)
    started = time.monotonic()
    verdict = await grader.start(step, folder)
    await known.wait()
    seconds = time.monotonic() - started
    passed = not verdict.failed
    if passed and grader.task is not None:
        await grader.task
        passed = verdict.passed
    await grader.stop()
    print(json.dumps({"seconds": seconds, "passed": passed}))
asyncio.run(main())
"""


@dataclass
class Timing:
    case: grade_cases.Case
    root: str  # "before" or "after"
    check: grade_cases.Verdict
    watch_seconds: float | None
    watch_passed: bool | None

    @property
    def right(self) -> bool:
        """A mistake caught, an alternative passed (by make check-N)."""
        return self.check.passed == (self.case.kind == "valid")


def watch(case: grade_cases.Case, steps_dir: Path, root: Path) -> tuple[float, bool]:
    """Save-to-verdict seconds through make watch's grader, and whether it passed."""
    folder = table.get(case.step).folder(steps_dir)
    result = subprocess.run(
        [sys.executable, "-c", WATCH, str(case.step), str(folder)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{case.name}: the watch grader failed: {result.stderr.strip()[-300:]}")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return float(answer["seconds"]), bool(answer["passed"])


def measure(
    case: grade_cases.Case, root: Path, label: str, scratch: Path, with_watch: bool
) -> Timing:
    steps_dir = scratch / f"{label}-{case.step:02d}-{case.path.stem}"
    check = grade_cases.grade(case, steps_dir, root)
    seconds, passed = watch(case, steps_dir, root) if with_watch else (None, None)
    return Timing(case, label, check, seconds, passed)


def figures(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} / {max(values):.1f}"


def report(timings: list[Timing]) -> list[str]:
    """The table: per step and in all, before -> after."""
    lines = [
        "step | mistakes caught/written | alternatives passing | check-N s mistakes "
        "median/slowest | valid | watch s mistakes | valid",
    ]
    steps = sorted({t.case.step for t in timings})
    for n in [*steps, None]:
        row = [f"{n:02d}" if n is not None else "all"]
        chosen = [t for t in timings if n is None or t.case.step == n]
        for what in ("caught", "passing", "check-m", "check-v", "watch-m", "watch-v"):
            cells = []
            for label in ("before", "after"):
                mine = [t for t in chosen if t.root == label]
                mistakes = [t for t in mine if t.case.kind == "mistake"]
                valid = [t for t in mine if t.case.kind == "valid"]
                if what == "caught":
                    cells.append(f"{sum(t.right for t in mistakes)}/{len(mistakes)}")
                elif what == "passing":
                    cells.append(f"{sum(t.right for t in valid)}/{len(valid)}")
                else:
                    group = mistakes if what.endswith("m") else valid
                    values = [
                        t.check.seconds if what.startswith("check") else t.watch_seconds
                        for t in group
                    ]
                    cells.append(figures([v for v in values if v is not None]))
            row.append(" -> ".join(cells))
        lines.append(" | ".join(row))
    lines.append("")
    for n in steps:
        caught = [
            t
            for t in timings
            if t.case.step == n and t.root == "after" and t.case.kind == "mistake"
        ]
        if caught:
            lines.append(f"step {n:02d} ({caught[0].case.path.stem}): {caught[0].check.why}")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make grade-timing", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before", default=BEFORE, help=f"the graders to compare (default {BEFORE})"
    )
    parser.add_argument("--step", type=int, action="append", help="only these steps' cases")
    parser.add_argument("--no-watch", action="store_true", help="time make check-N only")
    args = parser.parse_args(argv)
    cases = [case for case in grade_cases.load() if not args.step or case.step in args.step]
    if not cases:
        print("grade-timing: no cases to time", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="grade-timing-") as scratch_name:
        scratch = Path(scratch_name)
        before = scratch / "before"
        before.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.before], cwd=table.ROOT, capture_output=True, check=False
        )
        if archive.returncode != 0:
            print(f"grade-timing: git archive {args.before}: {archive.stderr.decode().strip()}")
            return 1
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
        timings = []
        for case in cases:
            for label, root in (("before", before), ("after", table.ROOT)):
                timing = measure(case, root, label, scratch, not args.no_watch)
                timings.append(timing)
                watch_text = (
                    "" if timing.watch_seconds is None else f", watch {timing.watch_seconds:.1f} s"
                )
                verdict = "passes" if timing.check.passed else "fails"
                print(
                    f"{label:6} {case.name}: {verdict} in {timing.check.seconds:.1f} s{watch_text}",
                    flush=True,
                )
    print()
    print("\n".join(report(timings)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
