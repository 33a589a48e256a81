"""What the presenter types in `make live-N`: the idea's lines, from slides/typed.toml.

The live copy of step N is the finished step with the idea's hunks taken out, so the
docstring, imports, housekeeping files and argument parsing are already on screen and
only the idea is typed. A step without hunks in the table starts, as before, from a
copy of step N-1 (workcopy.make_start).
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tools import table, workcopy

TABLE = table.ROOT / "slides" / "typed.toml"
LINES_PER_MINUTE = 5  # typing and talking at once


@dataclass(frozen=True)
class Hunk:
    step: int
    file: str
    first: str
    last: str
    after: str = ""

    def locate(self, lines: list[str]) -> tuple[int, int]:
        """(start, end) of this hunk in a file's lines, end exclusive; ValueError if not there."""
        begin = 0
        if self.after:
            above = [i for i, line in enumerate(lines) if line.strip() == self.after.strip()]
            if len(above) != 1:
                raise ValueError(f"step {self.step} {self.file}: {self.after!r} is not unique")
            begin = above[0]
            starts = [i for i in range(begin, len(lines)) if lines[i].strip() == self.first.strip()]
            starts = starts[:1]
        else:
            starts = [i for i, line in enumerate(lines) if line.strip() == self.first.strip()]
        if len(starts) != 1:
            found = "not found" if not starts else f"found {len(starts)} times"
            raise ValueError(f"step {self.step} {self.file}: hunk start {self.first!r} {found}")
        start = starts[0]
        for end in range(start, len(lines)):
            if lines[end].strip() == self.last.strip():
                return start, end + 1
        raise ValueError(f"step {self.step} {self.file}: hunk end {self.last!r} not found")


def load(path: Path = TABLE) -> dict[int, list[Hunk]]:
    """The hunks of every step, in the table's order."""
    hunks: dict[int, list[Hunk]] = {}
    for row in tomllib.loads(path.read_text())["hunk"]:
        last = row.get("last", row["first"])
        hunk = Hunk(row["step"], row["file"], row["first"], last, row.get("after", ""))
        hunks.setdefault(hunk.step, []).append(hunk)
    return hunks


@dataclass(frozen=True)
class Cut:
    """One hunk, located in the finished step's file."""

    hunk: Hunk
    start: int  # 0-based line in the finished file
    lines: list[str]  # the hunk's lines, as in the finished file


def cuts(step: table.Step, folder: Path | None = None) -> list[Cut]:
    """Step N's hunks, located in its finished folder (default steps/), in the table's order."""
    folder = folder or step.folder(table.ROOT / "steps")
    located = []
    for hunk in load().get(step.n, []):
        lines = (folder / hunk.file).read_text().splitlines(keepends=True)
        start, end = hunk.locate(lines)
        located.append(Cut(hunk, start, lines[start:end]))
    return located


def to_type(step: table.Step) -> int:
    """How many lines the presenter types for step N (blank lines not counted)."""
    found = cuts(step)
    if not found:
        return before(step)
    return sum(1 for cut in found for line in cut.lines if line.strip())


def before(step: table.Step) -> int:
    """The old measure: every line step N changes from step N-1 (blank lines not counted)."""
    finished = step.folder(table.ROOT / "steps")
    if step.n == 1:
        source = (finished / "receiver.py").read_text()
        return sum(1 for line in source.splitlines() if line.strip())
    old = table.get(step.n - 1).folder(table.ROOT / "steps")
    return sum(workcopy.changed_lines(old / path.name, path) for path in finished.iterdir())


def make_live(step: table.Step, destination: Path) -> tuple[str, int]:
    """Fill destination (must not exist) with step N minus its idea; (file, line) to open at."""
    found = cuts(step)
    if not found:
        workcopy.make_start(step, destination)
        return workcopy.main_file(step), 1
    shutil.copytree(step.folder(table.ROOT / "steps"), destination, ignore=workcopy.SKIP)
    for name, text in without(step, found).items():
        (destination / name).write_text(text)
    return opening(step, found)


def without(step: table.Step, missing: list[Cut]) -> dict[str, str]:
    """The files these hunks are in, as step N's text with those hunks taken out."""
    folder = step.folder(table.ROOT / "steps")
    texts = {}
    for name in dict.fromkeys(cut.hunk.file for cut in missing):
        lines = (folder / name).read_text().splitlines(keepends=True)
        for cut in sorted(
            (cut for cut in missing if cut.hunk.file == name), key=lambda c: -c.start
        ):
            del lines[cut.start : cut.start + len(cut.lines)]
        texts[name] = "".join(lines)
    return texts


def opening(step: table.Step, found: list[Cut] | None = None) -> tuple[str, int]:
    """(file, line) of the live copy where the first hunk goes: where the editor opens."""
    found = cuts(step) if found is None else found
    if not found:
        return workcopy.main_file(step), 1
    first = found[0]
    same_file = [cut for cut in found if cut.hunk.file == first.hunk.file]
    removed_above = sum(len(cut.lines) for cut in same_file if cut.start < first.start)
    return first.hunk.file, first.start - removed_above + 1


def files(step: table.Step) -> list[str]:
    """The files the presenter types into, the first one first."""
    found = cuts(step)
    if not found:
        return workcopy.changed_files(step)
    return list(dict.fromkeys(cut.hunk.file for cut in found))


def main() -> None:
    """Lines to type per step, before (the whole diff) and now (the idea's hunks)."""
    print("step  before  now  minutes at 5 lines/min")
    for step in table.load():
        now = to_type(step)
        print(f"{step.n:>4}  {before(step):>6}  {now:>3}  {now / LINES_PER_MINUTE:>4.1f}")


if __name__ == "__main__":
    main()
