"""What fits on one slide at 1280x720: long code split by function, diffs split by hunk.

tools/slides.py asks this module how to cut what a placeholder pulls in (a file, `make
diff-N`, a recorded strace) into parts that each fit one slide, and at which font size.
The figures below are the deck's geometry (slides/slides.css, reveal.js at 1280x720); the
browser test in tests/test_slides.py measures every slide and fails if one does not fit.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# The code sizes of slides/slides.css (CSS px). reveal.js scales the 1280x720 slide by 0.96 in a
# 1280x720 window (its 4 % margin), so 19 px is drawn at 18.2 px: FONT_FLOOR, the smallest code
# font on any slide (slides/README.md states it, tests/test_slides.py measures it).
SIZES = (("small", 24), ("smaller", 21), ("smallest", 19))
FONT_FLOOR = 18
LINE_HEIGHT = 1.25  # of the code's font size (slides.css)
CODE_HEIGHT = 610  # CSS px under a one-line heading for a code block's rows
CODE_WIDTH = 1228 - 2 * 12  # CSS px: the block's width less its padding (slides.css)
CHAR = 0.602  # DejaVu Sans Mono's advance, in em
CODE_LINES = 24  # the most lines one part of a file or diff gets (rows at the smallest size: 25)


def rows_for(size: int) -> int:
    return int(CODE_HEIGHT // (size * LINE_HEIGHT))


def columns_for(size: int, gutter_digits: int = 0) -> int:
    """Characters per row at a size; line numbers take digits plus about one character."""
    gutter = (gutter_digits + 1.2) * CHAR * size if gutter_digits else 0
    return int((CODE_WIDTH - gutter) // (CHAR * size))


def size_for(lines: list[str], numbered_to: int = 0, wrap: bool = False) -> str:
    """The largest size at which these lines fit a slide (the smallest if none does)."""
    digits = len(str(numbered_to)) if numbered_to else 0
    for name, px in SIZES:
        columns = columns_for(px, digits)
        if wrap:
            rows = sum(max(1, math.ceil(len(line) / columns)) for line in lines)
        else:
            rows = len(lines)
            if any(len(line) > columns for line in lines):
                continue
        if rows <= rows_for(px):
            return name
    return SIZES[-1][0]


def common_size(parts: list[list[str]], numbered_to: int = 0, wrap: bool = False) -> str:
    """One size for all parts of a block (the parts of one file look alike): the smallest
    that any of them needs."""
    names = [name for name, _ in SIZES]
    needed = [names.index(size_for(lines, numbered_to, wrap)) for lines in parts] or [0]
    return names[max(needed)]


def wrapped_rows(lines: Iterable[str]) -> int:
    """Rows at the smallest size when long lines wrap (recorded output wraps, code does not)."""
    columns = columns_for(SIZES[-1][1])
    return sum(max(1, math.ceil(len(line) / columns)) for line in lines)


# ---------------------------------------------------------------------------------------------
# Code: a range of a file, cut at def/class boundaries
# ---------------------------------------------------------------------------------------------


@dataclass
class Unit:
    """Lines first..last that stay together unless too many; depth: how deep its start is."""

    first: int
    last: int
    depth: int
    children: list[ast.stmt] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def statement_start(node: ast.stmt, lines: list[str]) -> int:
    """A statement's first line, with its decorators and the comment lines right above it."""
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)])
    while start > 1 and lines[start - 2].strip().startswith("#"):
        start -= 1
    return start


def children_of(node: ast.AST) -> list[ast.stmt]:
    found: list[ast.stmt] = []
    for name in ("body", "orelse", "finalbody"):
        found += [n for n in getattr(node, name, []) if isinstance(n, ast.stmt)]
    for handler in getattr(node, "handlers", []):
        found += handler.body
    for case in getattr(node, "cases", []):
        found += case.body
    return sorted(found, key=lambda n: n.lineno)


def units(first: int, last: int, nodes: list[ast.stmt], lines: list[str], depth: int) -> list[Unit]:
    """first..last cut where each statement starts; each piece keeps its statement's children."""
    starts = sorted(
        {statement_start(n, lines) for n in nodes if first < statement_start(n, lines) <= last}
    )
    bounds = [first, *starts, last + 1]
    found = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        inside = [n for n in nodes if a <= n.lineno < b]
        kids = [kid for n in inside for kid in children_of(n)]
        found.append(Unit(a, b - 1, depth if a != first else depth - 1, kids))
    return found


def flatten(unit: Unit, lines: list[str], limit: int) -> list[Unit]:
    """The unit, or its pieces if it is longer than limit: inner statements, then plain lines."""
    if unit.size <= limit:
        return [unit]
    if unit.children:
        inner = units(unit.first, unit.last, unit.children, lines, unit.depth + 1)
        if len(inner) > 1:
            return [piece for part in inner for piece in flatten(part, lines, limit)]
    # one statement longer than a slide (a long docstring, a big literal): at blank lines if
    # there are any, else every `limit` lines
    blanks = [i for i in range(unit.first + 1, unit.last + 1) if not lines[i - 1].strip()]
    cuts = [unit.first, *blanks, unit.last + 1]
    pieces = [Unit(a, b - 1, unit.depth + 2) for a, b in zip(cuts, cuts[1:], strict=False)]
    result = []
    for piece in pieces:
        for start in range(piece.first, piece.last + 1, limit):
            result.append(Unit(start, min(start + limit - 1, piece.last), piece.depth))
    return result


def pack(
    sizes: list[int],
    depths: list[int],
    limit: int,
    measure: Callable[[int, int], int] | None = None,
) -> list[tuple[int, int]]:
    """Contiguous groups of items, each at most limit: as few as can be, cut at shallow
    boundaries, of even size. Returns (first item, last item) index pairs. measure(first,
    last): a group's size where it is not the sum of its items' (a diff's file headers)."""
    n = len(sizes)
    best: list[tuple[float, int]] = [(0.0, -1)] + [(math.inf, -1)] * n  # cost, where it starts
    for end in range(1, n + 1):
        total = 0
        for start in range(end, 0, -1):
            total += sizes[start - 1]
            if measure is not None and start != end:
                total = measure(start - 1, end - 1)
            if total > limit and start != end:
                break
            cut = depths[start - 1] * 400 if start > 1 else 0  # cutting inside a def costs
            cost = best[start - 1][0] + 10_000 + cut + (limit - total) ** 2
            if cost < best[end][0]:
                best[end] = (cost, start)
    groups = []
    end = n
    while end > 0:
        start = best[end][1]
        groups.append((start - 1, end - 1))
        end = start - 1
    return groups[::-1]


def split_code(text: str, first: int, last: int, limit: int = CODE_LINES) -> list[tuple[int, int]]:
    """Lines first..last of a file cut into ranges of at most limit lines, by def and class
    (the blank lines between two ranges are in neither)."""
    if last - first + 1 <= limit:
        return [(first, last)]
    lines = text.splitlines()
    try:
        tree: list[ast.stmt] = ast.parse(text).body
    except SyntaxError:
        tree = []
    if tree:
        # the statements inside the range, at the level that has more than one of them
        nodes = [n for n in tree if n.end_lineno and n.end_lineno >= first and n.lineno <= last]
        while len(nodes) == 1 and children_of(nodes[0]):
            nodes = [n for n in children_of(nodes[0]) if n.lineno <= last]
        pieces = units(first, last, nodes, lines, 1)
    else:  # not Python: paragraphs
        blanks = [i + 1 for i in range(first, last) if not lines[i - 1].strip()]
        cuts = [first, *blanks, last + 1]
        pieces = [Unit(a, b - 1, 1) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
    flat = [piece for unit in pieces for piece in flatten(unit, lines, limit)]
    groups = pack([u.size for u in flat], [u.depth for u in flat], limit)
    return [trim(lines, flat[a].first, flat[b].last) for a, b in groups]


def trim(lines: list[str], first: int, last: int) -> tuple[int, int]:
    """first..last without the blank lines at either end (between two parts: on neither)."""
    while first < last and not lines[first - 1].strip():
        first += 1
    while last > first and not lines[last - 1].strip():
        last -= 1
    return first, last


# ---------------------------------------------------------------------------------------------
# Diffs: hunks cut where code and docstring changes meet, code first, new files folded
# ---------------------------------------------------------------------------------------------


@dataclass
class Hunk:
    """Some lines of a unified diff of one file; old/new: the number of the first line each side."""

    old_path: str
    new_path: str
    old: int
    new: int
    lines: list[str]

    def header(self) -> str:
        olds = sum(line[:1] in " -" for line in self.lines)
        news = sum(line[:1] in " +" for line in self.lines)
        # an empty side names the line before it, as diff does
        old = self.old if olds else self.old - 1
        new = self.new if news else self.new - 1
        return f"@@ -{old},{olds} +{new},{news} @@"

    def numbered(self) -> list[tuple[str, int | None, int | None]]:
        """Each line with its old and new line number (None where it has none)."""
        old, new = self.old, self.new
        found: list[tuple[str, int | None, int | None]] = []
        for line in self.lines:
            kind = line[:1]
            if kind == " ":
                found.append((line, old, new))
                old, new = old + 1, new + 1
            elif kind == "-":
                found.append((line, old, None))
                old += 1
            elif kind == "+":
                found.append((line, None, new))
                new += 1
            else:  # "\ No newline at end of file"
                found.append((line, None, None))
        return found

    def cut(self, at: int) -> tuple[Hunk, Hunk]:
        """Two hunks: lines before index at, and from it on."""
        numbered = self.numbered()
        old = next((o for _, o, _ in numbered[at:] if o is not None), None)
        new = next((n for _, _, n in numbered[at:] if n is not None), None)
        olds = sum(line[:1] in " -" for line in self.lines[:at])
        news = sum(line[:1] in " +" for line in self.lines[:at])
        second = Hunk(
            self.old_path,
            self.new_path,
            old if old is not None else self.old + olds,
            new if new is not None else self.new + news,
            self.lines[at:],
        )
        return Hunk(self.old_path, self.new_path, self.old, self.new, self.lines[:at]), second


@dataclass
class FileDiff:
    old_path: str
    new_path: str
    hunks: list[Hunk]


def parse_diff(text: str) -> list[FileDiff]:
    """The files and hunks of `diff -ruN` output (its `diff ...` command lines are left out)."""
    files: list[FileDiff] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            files.append(FileDiff(line[4:].split("\t")[0], lines[i + 1][4:].split("\t")[0], []))
            i += 2
            continue
        header = re.match(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", line)
        if header and files:
            olds, news = int(header[2] or 1), int(header[4] or 1)
            body: list[str] = []
            i += 1
            seen_old = seen_new = 0
            while i < len(lines) and (seen_old < olds or seen_new < news or lines[i][:1] == "\\"):
                kind = lines[i][:1]
                seen_old += kind in " -"
                seen_new += kind in " +"
                body.append(lines[i])
                i += 1
            old = int(header[1]) + (olds == 0)
            new = int(header[3]) + (news == 0)
            current = files[-1]
            current.hunks.append(Hunk(current.old_path, current.new_path, old, new, body))
            continue
        i += 1
    return files


def docstring_lines(text: str) -> set[int]:
    """The line numbers of every docstring in a Python file (none if it is not Python)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                found.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return found


def is_docstring(hunk: Hunk, old_doc: set[int], new_doc: set[int]) -> bool:
    """Whether every line the hunk changes is in a docstring."""
    changes = [(line, o, n) for line, o, n in hunk.numbered() if line[:1] in "-+"]
    return bool(changes) and all(
        (o in old_doc) if line[:1] == "-" else (n in new_doc) for line, o, n in changes
    )


def by_kind(hunk: Hunk, old_doc: set[int], new_doc: set[int]) -> list[tuple[bool, Hunk]]:
    """The hunk cut where its changes go from docstring to code (or back): (is docstring, part)."""
    numbered = hunk.numbered()
    kinds: list[bool | None] = []
    for line, o, n in numbered:
        if line[:1] == "-":
            kinds.append(o in old_doc)
        elif line[:1] == "+":
            kinds.append(n in new_doc)
        else:
            kinds.append(None)
    changes = [i for i, kind in enumerate(kinds) if kind is not None]
    cuts = []
    for a, b in zip(changes, changes[1:], strict=False):
        if kinds[a] != kinds[b] and b - a > 1:  # context between them: cut in its middle
            cuts.append((a + b + 1) // 2)
    parts: list[tuple[bool, Hunk]] = []
    rest = hunk
    offset = 0
    for at in cuts:
        head, rest = rest.cut(at - offset)
        offset = at
        parts.append((is_docstring(head, old_doc, new_doc), head))
    parts.append((is_docstring(rest, old_doc, new_doc), rest))
    return parts


def changes(hunk: Hunk) -> bool:
    """Whether a hunk changes anything (a piece of one may hold only context)."""
    return any(line[:1] in "-+" for line in hunk.lines)


def snug(hunk: Hunk) -> Hunk:
    """The hunk without the blank context lines at either end (they show nothing)."""
    lines = hunk.lines
    start = 0
    while start < len(lines) and lines[start] in (" ", ""):
        start += 1
    end = len(lines)
    while end > start and lines[end - 1] in (" ", ""):
        end -= 1
    return hunk.cut(start)[1].cut(end - start)[0]


def shorter(hunk: Hunk, limit: int) -> list[Hunk]:
    """The hunk in pieces of at most limit lines, cut at a context line where there is one."""
    pieces = []
    while len(hunk.lines) > limit:
        window = range(limit, max(limit // 2, 1), -1)
        at = next((i for i in window if hunk.lines[i][:1] == " "), limit)
        while hunk.lines[at][:1] == "\\":  # never separate a line from its "No newline"
            at -= 1
        head, hunk = hunk.cut(at)
        pieces.append(head)
    return [*pieces, hunk]


@dataclass
class DiffPart:
    """One slide's worth of a diff: hunks (and `Only in` lines for files added or removed)."""

    items: list[Hunk | str] = field(default_factory=list)

    def text(self) -> str:
        out: list[str] = []
        current = None
        for item in self.items:
            if isinstance(item, str):
                out.append(item)
                current = None
                continue
            if current != item.new_path:
                out += [f"--- {item.old_path}", f"+++ {item.new_path}"]
                current = item.new_path
            out += [item.header(), *item.lines]
        return "\n".join(out)

    def size(self) -> int:
        return len(self.text().split("\n"))


def split_diff(
    text: str, read: Callable[[str], str | None], limit: int = CODE_LINES
) -> list[DiffPart]:
    """`diff -ruN` output as slides: the code's hunks first, then the files added or removed
    as one `Only in` line each (their code has its own slides), the docstrings' hunks last.

    read: the text of a file by its path in the diff, None for one that does not exist.
    """
    code: list[Hunk | str] = []
    added: list[Hunk | str] = []
    docs: list[Hunk | str] = []
    for diff in parse_diff(text):
        old_text, new_text = read(diff.old_path), read(diff.new_path)
        if old_text is None or new_text is None:
            path = diff.old_path if new_text is None else diff.new_path
            folder, _, name = path.rpartition("/")
            added.append(f"Only in {folder}: {name}")
            continue
        python = diff.new_path.endswith(".py")
        old_doc = docstring_lines(old_text) if python else set()
        new_doc = docstring_lines(new_text) if python else set()
        for hunk in diff.hunks:
            for doc, part in by_kind(hunk, old_doc, new_doc):
                pieces = [snug(p) for p in shorter(part, limit - 3) if changes(p)]
                (docs if doc else code).extend(pieces)
    items = [*code, *added] or docs  # a step that changes only docstrings shows them
    sizes = [DiffPart([item]).size() for item in items]

    def size(first: int, last: int) -> int:
        return DiffPart(items[first : last + 1]).size()

    groups = pack(sizes, [0] * len(items), limit, size)
    parts = [DiffPart(items[a : b + 1]) for a, b in groups]
    if items is docs:
        return parts
    # The docstrings' hunks go where a code slide has room, after its code: a slide is never
    # docstrings only. What finds no room is one line at the end, saying make diff has it.
    left = 0
    for item in docs:
        room = next((p for p in parts if DiffPart([*p.items, item]).size() <= limit), None)
        if room is None:
            left += (
                sum(1 for line in item.lines if line[:1] in "+-") if isinstance(item, Hunk) else 1
            )
        else:
            room.items.append(item)
    if left and parts:
        parts[-1].items.append(f"… {left} docstring lines more: `make diff` shows them")
    return parts


# ---------------------------------------------------------------------------------------------
# A recorded strace (tests/strace/step-NN.txt): the lines that make the point, and the summary
# ---------------------------------------------------------------------------------------------


def trace_excerpt(text: str, sources: Iterable[str], rows: int = CODE_LINES) -> list[str]:
    """The trace's column header, its lines about threads starting and waiting and about the
    sources' fds (head and tail if they are too many), then the summary block; the run line
    and the pattern block (for tests/test_strace_demo.py) are left out. Lines come unchanged;
    `…` lines say how many were left out."""
    lines = text.split("\n")
    names = [re.escape(name) for name in sources]
    about = re.compile(rf"<({'|'.join(names)})>" if names else r"(?!)")
    header = next((i for i, line in enumerate(lines) if line.startswith("trace (")), None)
    summary = next((i for i, line in enumerate(lines) if line.startswith("summary:")), None)
    if header is None or summary is None:
        return lines  # not a strace demo's output: as it is
    trace = []
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        trace.append(line)
    end = next((i for i in range(summary, len(lines)) if not lines[i].strip()), len(lines))
    tail = lines[summary:end]

    def point(line: str) -> bool:
        return bool(
            about.search(line)
            or "clone" in line
            or "<unfinished" in line
            or "resumed>" in line
            or "--- SIG" in line
        )

    room = rows - wrapped_rows([lines[header], "", *tail])
    chosen = list(range(len(trace)))
    if wrapped_rows(trace) > room:
        # the end is the story (the burst: one thread per socket, or one wakeup draining
        # each socket): its lines first, a run of datagrams from one socket as its first and
        # last, and the threads' starts (or the trace's first line) for where it starts
        chosen = drains([i for i, line in enumerate(trace) if point(line)], trace)
        starts = [i for i in chosen if "clone" in trace[i]]  # the threads being started
        first = starts or chosen[:1]
        rest = [i for i in chosen if i > first[-1]]
        while len(rest) > 1 and wrapped_rows(with_gaps(trace, first + rest)) > room:
            rest.pop(0)
        chosen = first + rest
    return [lines[header], *with_gaps(trace, chosen), "", *tail]


RECEIVED = re.compile(r'recvmsg\((\d+<[^>]+>), "')  # a datagram as make strace-N prints it


def drains(chosen: list[int], trace: list[str]) -> list[int]:
    """Runs of datagrams one after the other from one socket cut to their first and last."""
    kept: list[int] = []
    for k, index in enumerate(chosen):
        here = RECEIVED.search(trace[index])
        before = RECEIVED.search(trace[chosen[k - 1]]) if k else None
        after = RECEIVED.search(trace[chosen[k + 1]]) if k + 1 < len(chosen) else None
        inside = (
            here
            and before
            and after
            and chosen[k - 1] == index - 1
            and chosen[k + 1] == index + 1
            and before[1] == here[1] == after[1]
        )
        if not inside:
            kept.append(index)
    return kept


GAP = re.compile(r"^ {20}… (\d+) lines? left out …$")  # a line of the slide, not of the file
MORE = re.compile(r"… (\d+) more lines …")  # the recording's own "left out" line


def gap(lines: list[str]) -> str:
    count = sum(int(m[1]) if (m := MORE.search(line)) else 1 for line in lines)
    return " " * 20 + f"… {count} line{'s' * (count != 1)} left out …"


def with_gaps(trace: list[str], chosen: list[int]) -> list[str]:
    """The chosen lines of the trace, with a line saying how many were left out between them."""
    out = []
    previous = -1
    for index in sorted(chosen):
        if index - previous > 1:
            out.append(gap(trace[previous + 1 : index]))
        out.append(trace[index])
        previous = index
    if previous < len(trace) - 1:
        out.append(gap(trace[previous + 1 :]))
    return out
