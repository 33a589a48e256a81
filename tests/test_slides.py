"""The slides (`make slides`): built from the steps, complete, offline, and shown by a real browser.

The deck is built once per run with the real command into a temporary folder; the tests read
it as a browser would get it. Nothing here changes a step or the slide source.
"""

from __future__ import annotations

import ast
import io
import json
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from tests.helpers import TIMEOUT, Program, wait_until
from tools import slidefit, slides, table

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = table.ROOT
SHOTS = ROOT / "build" / "slides-test"  # the screenshots, for a person to look at


# ---------------------------------------------------------------------------------------------
# Reading a built deck (our own parser: the tests do not trust the builder's view of its output)
# ---------------------------------------------------------------------------------------------


@dataclass
class Block:
    attrs: dict[str, str]
    text: str
    section: str  # the id of the slide it is on


@dataclass
class Deck:
    index: Path
    blocks: list[Block] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)  # id -> text of the slide
    resources: list[tuple[str, str, str]] = field(default_factory=list)  # tag, attribute, value
    slides: int = 0  # sections with no section inside: what reveal.js shows one at a time


RESOURCE_ATTRS = {"src", "href", "poster", "data", "srcset"}


class DeckParser(HTMLParser):
    def __init__(self, deck: Deck) -> None:
        super().__init__(convert_charrefs=True)
        self.deck = deck
        self.stack: list[str] = []  # ids of the open sections ("" for none)
        self.leaf: list[bool] = []  # per open section: no section inside it (yet)
        self.texts: dict[str, list[str]] = {}
        self.code: dict[str, str] | None = None
        self.code_text: list[str] = []
        self.in_pre = 0
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        for key, value in values.items():
            if tag != "a" and key in RESOURCE_ATTRS:
                self.deck.resources.append((tag, key, value))
            if key == "style":
                self.deck.resources.extend(("style", "url", u) for u in css_urls(value))
        if tag == "section":
            if self.leaf:
                self.leaf[-1] = False
            self.leaf.append(True)
            self.stack.append(values.get("id", ""))
            self.texts.setdefault(values.get("id", ""), [])
        elif tag == "pre":
            self.in_pre += 1
        elif tag == "code" and self.in_pre:
            self.code, self.code_text = values, []
        elif tag == "style":
            self.in_style = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self.stack:
            self.stack.pop()
            self.deck.slides += self.leaf.pop()
        elif tag == "pre":
            self.in_pre -= 1
        elif tag == "code" and self.code is not None:
            section = next((s for s in reversed(self.stack) if s), "")
            self.deck.blocks.append(Block(self.code, "".join(self.code_text), section))
            self.code = None
        elif tag == "style":
            self.in_style = False

    def handle_data(self, data: str) -> None:
        if self.code is not None:
            self.code_text.append(data)
        if self.in_style:
            self.deck.resources.extend(("style", "url", u) for u in css_urls(data))
        for section in self.stack:
            self.texts[section].append(data)


def css_urls(css: str) -> list[str]:
    found = re.findall(r"""url\(\s*['"]?([^'")]+)""", css)
    found += re.findall(r"""@import\s+(?:url\()?\s*['"]([^'"]+)""", css)
    return found


def read_deck(index: Path) -> Deck:
    deck = Deck(index)
    parser = DeckParser(deck)
    parser.feed(index.read_text(encoding="utf-8"))
    deck.sections = {key: " ".join("".join(parts).split()) for key, parts in parser.texts.items()}
    return deck


def is_remote(reference: str) -> bool:
    return bool(re.match(r"^\s*((https?|ftp|wss?):)?//", reference, re.IGNORECASE))


def remote_references(folder: Path) -> list[str]:
    """Every resource the deck would fetch from the network: HTML attributes and CSS url()s."""
    found = []
    for page in folder.rglob("*.html"):
        deck = read_deck(page)
        found += [f"{page.name}: <{t} {a}={v}>" for t, a, v in deck.resources if is_remote(v)]
    for sheet in folder.rglob("*.css"):
        urls = css_urls(sheet.read_text(encoding="utf-8", errors="replace"))
        found += [f"{sheet.relative_to(folder)}: url({u[:80]})" for u in urls if is_remote(u)]
    return found


def missing_local_files(folder: Path) -> list[str]:
    """Local resources the pages and stylesheets refer to that are not in the folder."""
    missing = []
    for page in folder.rglob("*.html"):
        for _, _, value in read_deck(page).resources:
            if is_remote(value) or value.startswith(("data:", "#")):
                continue
            if not (page.parent / value.split("#")[0].split("?")[0]).is_file():
                missing.append(f"{page.name}: {value}")
    for sheet in folder.rglob("*.css"):
        for value in css_urls(sheet.read_text(encoding="utf-8", errors="replace")):
            if is_remote(value) or value.startswith(("data:", "#")):
                continue
            if not (sheet.parent / value.split("#")[0].split("?")[0]).is_file():
                missing.append(f"{sheet.name}: {value}")
    return missing


# ---------------------------------------------------------------------------------------------
# What the deck must contain, computed from the steps folder directly
# ---------------------------------------------------------------------------------------------


def step_files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def changed_files(step: table.Step) -> list[str]:
    new = step_files(step.folder(ROOT / "steps"))
    if step.n == 1:
        return list(new)
    old = step_files(table.load()[step.n - 2].folder(ROOT / "steps"))
    return [name for name, data in new.items() if old.get(name) != data]


def shown(text: str) -> str:
    """A file's text as a code block holds it: without the one final newline."""
    return text[:-1] if text.endswith("\n") else text


def check_unified_diff(diff: str, old_dir: Path, new_dir: Path) -> set[str]:
    """Every hunk of a `diff -ru` is true of the two folders; returns the files it names."""
    named: set[str] = set()
    lines = diff.split("\n")
    i = 0
    old_lines: list[str] = []
    new_lines: list[str] = []
    hunks = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old_path = Path(line[4:].split("\t")[0])
            new_path = Path(lines[i + 1][4:].split("\t")[0])
            assert old_path.name == new_path.name or not old_path.exists()
            name = str(new_path.relative_to(new_dir.relative_to(ROOT)))
            named.add(name)
            old_file, new_file = old_dir / name, new_dir / name
            old_lines = old_file.read_text().split("\n")[:-1] if old_file.exists() else []
            new_lines = new_file.read_text().split("\n")[:-1] if new_file.exists() else []
            i += 2
            continue
        header = re.match(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", line)
        if header:
            old_start, old_count = int(header[1]), int(header[2] or 1)
            new_start, new_count = int(header[3]), int(header[4] or 1)
            old_side: list[str] = []
            new_side: list[str] = []
            i += 1
            # exactly the hunk's lines, as its header counts them ("\\ No newline" aside)
            while len(old_side) < old_count or len(new_side) < new_count:
                assert i < len(lines), f"the diff ends inside {line}"
                kind, body = lines[i][:1], lines[i][1:]
                assert kind in (" ", "-", "+", "\\"), f"not a hunk line: {lines[i]!r}"
                if kind in (" ", "-"):
                    old_side.append(body)
                if kind in (" ", "+"):
                    new_side.append(body)
                i += 1
            assert len(old_side) == old_count and len(new_side) == new_count, line
            first_old = max(old_start - 1, 0)
            first_new = max(new_start - 1, 0)
            assert old_lines[first_old : first_old + old_count] == old_side, f"old side of {line}"
            assert new_lines[first_new : first_new + new_count] == new_side, f"new side of {line}"
            hunks += 1
            continue
        i += 1
    assert hunks, "the diff has no hunks"
    return named


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


def build(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.slides", "build", "--out", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deck") / "slides"
    result = build(out)
    assert result.returncode == 0, f"make slides failed:\n{result.stderr}"
    assert (out / "index.html").is_file()
    return out


@pytest.fixture(scope="module")
def deck(built: Path) -> Deck:
    return read_deck(built / "index.html")


# ---------------------------------------------------------------------------------------------
# The deck's content
# ---------------------------------------------------------------------------------------------


def test_every_step_has_a_section_with_its_title_and_idea(deck: Deck) -> None:
    for step in table.load():
        section = deck.sections.get(f"step-{step.n}")
        assert section is not None, f"step {step.n} ({step.dir}) has no slides"
        assert step.title in section, f"step {step.n}: title {step.title!r} not on its slide"
        idea = " ".join(step.idea.replace("`", "").split())
        assert idea in section, f"step {step.n}: its idea is not on its slide"
    numbers = {int(m[1]) for s in deck.sections if (m := re.fullmatch(r"step-(\d+)", s))}
    assert numbers == {step.n for step in table.load()}, "slides for steps not in the table"


def test_every_line_of_every_changed_file_is_on_a_slide(deck: Deck) -> None:
    """A long file is on several slides (cut between functions): together they hold every
    line of it (the blank lines between two parts aside)."""
    for step in table.load():
        folder = step.folder(ROOT / "steps")
        changed = changed_files(step)
        assert changed, f"step {step.n} changes no file"
        for name in changed:
            path = folder / name
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # a picture, say: no code slide for it
            key = str(path.relative_to(ROOT))
            parts = [b for b in deck.blocks if b.attrs.get("data-file") == key]
            assert parts, f"step {step.n}: {name} changed but has no code slide"
            shown_lines: set[int] = set()
            for part in parts:
                first, last = map(int, part.attrs["data-lines"].split("-"))
                shown_lines.update(range(first, last + 1))
            lines = text.splitlines()
            written = {i for i, line in enumerate(lines, 1) if line.strip()}  # blank ones aside
            missing = sorted(written - shown_lines)
            assert not missing, f"{key}: lines {missing[:5]}... are on no slide"
            own = [p for p in parts if p.section.startswith(f"step-{step.n}-")]
            assert own, f"step {step.n}: {name} is not in its own step's slides"


def test_regions_are_the_files_lines(deck: Deck) -> None:
    for block in deck.blocks:
        if "data-lines" not in block.attrs:
            continue
        first, last = map(int, block.attrs["data-lines"].split("-"))
        lines = (ROOT / block.attrs["data-file"]).read_text(encoding="utf-8").splitlines(True)
        assert block.text == shown("".join(lines[first - 1 : last])), block.attrs


def diff_changes(diff: str) -> set[tuple[str, str, int]]:
    """Every line a unified diff removes or adds: (sign, new path, line number on its side)."""
    found: set[tuple[str, str, int]] = set()
    path = ""
    old = new = 0
    for line in diff.split("\n"):
        if line.startswith("+++ "):
            path = line[4:].split("\t")[0]
        elif header := re.match(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", line):
            old = int(header[1]) + (header[2] == "0")
            new = int(header[3]) + (header[4] == "0")
        elif line.startswith("-") and not line.startswith("--- "):
            found.add(("-", path, old))
            old += 1
        elif line.startswith("+"):
            found.add(("+", path, new))
            new += 1
        elif line.startswith(" "):
            old, new = old + 1, new + 1
    return found


def docstring_lines(path: Path) -> set[int]:
    if not path.is_file() or path.suffix != ".py":
        return set()
    found: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        kinds = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        if isinstance(node, kinds) and ast.get_docstring(node, clean=False) is not None:
            doc = node.body[0]
            found.update(range(doc.lineno, (doc.end_lineno or doc.lineno) + 1))
    return found


def test_every_step_after_the_first_has_its_true_diff(deck: Deck) -> None:
    """Each diff slide's hunks are true of the two folders; together the slides hold every
    change of `make diff-N` to a file both steps have, and an `Only in` line for each file
    added or removed (its code is on slides of its own)."""
    steps = table.load()
    parts: dict[int, list[Block]] = {}
    for block in deck.blocks:
        if "data-diff" in block.attrs:
            parts.setdefault(int(block.attrs["data-diff"]), []).append(block)
    assert set(parts) == {step.n for step in steps[1:]}
    for step in steps[1:]:
        old = steps[step.n - 2].folder(ROOT / "steps")
        new = step.folder(ROOT / "steps")
        whole = slides.step_diff(step.n, ROOT / "steps")
        added = set(step_files(new)) - set(step_files(old))
        removed = set(step_files(old)) - set(step_files(new))
        both = set(changed_files(step)) - added
        named: set[str] = set()
        only: set[str] = set()
        for part in parts[step.n]:
            assert part.section.startswith(f"step-{step.n}-diff"), part.section
            if any(line.startswith("@@") for line in part.text.split("\n")):
                named |= check_unified_diff(part.text, old, new)
            for match in re.finditer(r"^Only in (\S+): (\S+)$", part.text, re.MULTILINE):
                folder = old if match[1] == str(old.relative_to(ROOT)) else new
                assert match[1] == str(folder.relative_to(ROOT)), match[0]
                assert (folder / match[2]).is_file(), match[0]
                only.add(match[2])
        assert named == both, f"step {step.n}: files in its diff slides"
        assert only == added | removed, f"step {step.n}: files added or removed"
        on_slides = set().union(*(diff_changes(p.text) for p in parts[step.n]))
        kept = {c for c in diff_changes(whole) if c[1].split("/", 2)[-1] in both}
        assert on_slides <= kept, f"step {step.n}: changed lines that are not in the diff"
        missing = kept - on_slides  # only docstring lines, and a line says how many
        for sign, path, n in missing:
            name = path.split("/", 2)[-1]
            doc = docstring_lines((old if sign == "-" else new) / name)
            assert n in doc, f"step {step.n}: {path}:{n} is code, and not on a slide"
        said = re.findall(r"… (\d+) docstring lines more", "".join(p.text for p in parts[step.n]))
        assert sum(map(int, said)) == len(missing), f"step {step.n}: {len(missing)} left out"


def test_diff_slides_lead_with_code_and_are_never_docstrings_only(deck: Deck) -> None:
    """Step 04's slide showed only its docstring's changes above the fold, step 06's 7/7 only
    docstrings: on every diff slide code comes first, and there is code."""
    steps = table.load()
    for step in steps[1:]:
        old = steps[step.n - 2].folder(ROOT / "steps")
        new = step.folder(ROOT / "steps")
        for block in deck.blocks:
            if block.attrs.get("data-diff") != str(step.n):
                continue
            kinds = []  # per hunk on the slide, in order: True if it changes only docstrings
            path = ""
            hunks = re.split(r"^(?=@@ |\+\+\+ )", block.text, flags=re.MULTILINE)
            for hunk in hunks:
                if hunk.startswith("+++ "):
                    path = hunk.split("\n")[0][4:]
                    continue
                if not hunk.startswith("@@"):
                    continue
                name = path.split("/", 2)[-1]
                doc_old, doc_new = docstring_lines(old / name), docstring_lines(new / name)
                changes = diff_changes(f"+++ {path}\n{hunk}")
                kinds.append(
                    all(n in (doc_old if sign == "-" else doc_new) for sign, _, n in changes)
                )
            part = block.attrs.get("data-part", "1/1")
            assert kinds == sorted(kinds), f"step {step.n} {part}: code after a docstring hunk"
            only_files = not kinds and "Only in" in block.text
            assert only_files or not all(kinds), f"step {step.n} {part}: docstrings only"


def test_strace_excerpts_show_the_waits_and_the_summary(deck: Deck) -> None:
    """tests/strace/step-NN.txt on its step's slide: lines of the file, in order; the
    summary whole; a line about each of the step's sockets the trace shows; and the
    `… N lines left out …` lines account for every line that is not there."""
    excerpts = {b.attrs["data-output"]: b for b in deck.blocks if "data-excerpt" in b.attrs}
    for path in sorted((ROOT / "tests" / "strace").glob("step-*.txt")):
        key = str(path.relative_to(ROOT))
        assert key in excerpts, f"{key} is not in the deck"
        block = excerpts[key]
        n = int(path.stem.split("-")[1])
        assert block.section == f"step-{n}-strace"
        lines = path.read_text(encoding="utf-8").split("\n")
        shown_lines = block.text.split("\n")
        gaps = [m for line in shown_lines if (m := slidefit.GAP.match(line))]
        real = [line for line in shown_lines if not slidefit.GAP.match(line)]
        position = 0
        for line in real:  # a subsequence of the file's lines
            assert line in lines[position:], f"{key}: {line!r} is not in the file (or not here)"
            position = lines.index(line, position) + 1
        summary = lines.index(next(line for line in lines if line.startswith("summary:")))
        end = lines.index("", summary)
        assert "\n".join(lines[summary:end]) in block.text, f"{key}: the summary is not whole"
        start = lines.index(next(line for line in lines if line.startswith("trace (")))
        trace = lines[start + 1 : lines.index("", start)]

        def weight(line: str) -> int:
            more = re.search(r"… (\d+) more lines …", line)
            return int(more[1]) if more else 1

        shown_trace = [line for line in real if line in trace]
        accounted = sum(map(weight, shown_trace)) + sum(int(m[1]) for m in gaps)
        assert accounted == sum(map(weight, trace)), f"{key}: the left-out counts do not add up"
        for socket in table.load()[n - 1].sockets:
            if any(f"<{socket}>" in line for line in trace):
                assert any(f"<{socket}>" in line for line in shown_trace), f"{key}: {socket}"


def test_the_dbus_story_and_api_are_there(deck: Deck) -> None:
    text = " ".join(deck.sections.values())
    for phrase in (
        "10 message copies",
        "4 message validations",
        "4 context switches",
        "kdbus",
        "AF_DBUS",
        "3.6× faster",
        "dbus-daemon",
        "libdbus",
        "GetIncoming() → as",
        "Message(s source, t timestamp_ns, s text)",
        "org.example.Incoming",
    ):
        assert phrase in text, f"{phrase!r} is not in the deck"
    bench = deck.sections["bench"]
    if not list((ROOT / "build" / "bench").glob("*.json")):
        assert "make bench" in bench, "no benchmark results: the slide must say how to make them"


# ---------------------------------------------------------------------------------------------
# Offline: nothing from the network, everything in the folder
# ---------------------------------------------------------------------------------------------


def test_no_resource_comes_from_the_network(built: Path) -> None:
    assert remote_references(built) == []
    assert missing_local_files(built) == []
    vendored = {str(p.relative_to(built)) for p in (built / "vendor").rglob("*") if p.is_file()}
    assert vendored == {f"vendor/{name}" for name in slides.VENDORED}, "only what the deck uses"


def test_the_offline_check_finds_remote_resources(tmp_path: Path) -> None:
    """The check above can fail: a CDN script, a web font and a remote image are each caught."""
    (tmp_path / "index.html").write_text(
        '<link rel="stylesheet" href="s.css"><script src="https://cdn.invalid/reveal.js"></script>'
        '<a href="https://example.org/">a link in the prose is fine</a>'
        '<div style="background: url(//cdn.invalid/bg.png)"></div>'
    )
    (tmp_path / "s.css").write_text('@import "https://fonts.invalid/css"; a{}')
    found = remote_references(tmp_path)
    assert len(found) == 3, found
    assert missing_local_files(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# The placeholders, on a source of our own
# ---------------------------------------------------------------------------------------------


def source_with(tmp_path: Path, talk: str) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("deck.html", "slides.css"):
        shutil.copyfile(slides.SOURCE / name, source / name)
    (source / "talk.md").write_text(talk, encoding="utf-8")
    return source


def test_placeholders_pull_in_a_file_a_region_lines_and_a_diff(tmp_path: Path) -> None:
    receiver = table.load()[0].folder(ROOT / "steps") / "receiver.py"
    text = receiver.read_text(encoding="utf-8")
    source = source_with(
        tmp_path,
        '# {{ steps[0].title }}\n\n{{ file(1, "receiver.py", fit=1000) }}\n---\n'
        '{{ file(1, "receiver.py", lines="2-4") }}\n--\n'
        '{{ file(1, "receiver.py", region="main") }}\n---\n{{ diff(2, fit=1000) }}\n',
    )
    result = build(tmp_path / "out", "--source", str(source))
    assert result.returncode == 0, result.stderr
    deck = read_deck(tmp_path / "out" / "index.html")
    assert any(table.load()[0].title in text for text in deck.sections.values())
    assert deck.slides == 4  # file | lines, region (one below the other) | diff
    whole, lines, region, diff = deck.blocks
    assert whole.text == shown(text)
    assert lines.attrs["data-lines"] == "2-4"
    assert lines.text == shown("".join(text.splitlines(True)[1:4]))
    first, last = map(int, region.attrs["data-lines"].split("-"))
    assert region.text.startswith(("def main", "async def main")), region.text[:40]
    assert region.text == shown("".join(text.splitlines(True)[first - 1 : last]))
    assert diff.attrs["data-diff"] == "2"


def test_a_long_file_goes_on_several_slides_cut_between_functions(tmp_path: Path) -> None:
    """Each part is a slide of its own with the slide's heading and its number (k/n); the
    parts hold the file's lines in order, each cut falls where a statement starts (a def, a
    class; inside a def only if it is longer than a slide), none is longer than fit lines."""
    step = max(
        table.load(),
        key=lambda s: len(
            (s.folder(ROOT / "steps") / "receiver.py").read_text(encoding="utf-8").splitlines()
        ),
    )
    path = step.folder(ROOT / "steps") / "receiver.py"
    text = path.read_text(encoding="utf-8")
    source = source_with(
        tmp_path,
        f'<!-- .slide: id="long" -->\n### The receiver\n\n{{{{ file({step.n}, "receiver.py") }}}}\n'
        "\nNote:\nthe notes\n",
    )
    result = build(tmp_path / "out", "--source", str(source))
    assert result.returncode == 0, result.stderr
    deck = read_deck(tmp_path / "out" / "index.html")
    count = len(text.splitlines())
    parts = deck.blocks
    assert len(parts) == deck.slides >= count // slidefit.CODE_LINES
    ranges = [tuple(map(int, p.attrs["data-lines"].split("-"))) for p in parts]
    assert ranges[0][0] == 1 and ranges[-1][1] == count
    lines = text.splitlines()
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        assert start > end and all(not line.strip() for line in lines[end : start - 1]), ranges
    assert all(last - first < slidefit.CODE_LINES for first, last in ranges), ranges
    starts = set()  # where a statement starts (a decorated one: at its first decorator)
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.stmt):
            starts.add(min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]))
    for first, _ in ranges[1:]:
        while lines[first - 1].strip().startswith("#"):  # comments go with what they precede
            first += 1
        assert first in starts, f"a cut before line {first} is inside a statement: {ranges}"
    ids = [p.section for p in parts]
    assert ids == ["long", *(f"long-{k}" for k in range(2, len(parts) + 1))]
    for k, part in enumerate(parts, 1):
        assert f"The receiver {k}/{len(parts)}" in deck.sections[part.section]
        assert "the notes" in deck.sections[part.section]


def test_benchmark_results_become_figures(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    results.write_text(
        json.dumps(
            {
                "environment": {"cpus": 2},
                "figures": [
                    {
                        "section": "raw",
                        "name": "blocking",
                        "unit": "msg/s",
                        "median": 435750.4,
                        "baseline": "blocking",
                        "ratio": 1.0,
                        "note": "blocking recv()",
                    },
                    {
                        "section": "raw",
                        "name": "sock_recv",
                        "unit": "msg/s",
                        "median": 181833.5,
                        "baseline": "blocking",
                        "ratio": 0.4173,
                        "note": "asyncio",
                    },
                    {
                        "section": "cost",
                        "name": "total/ctxsw",
                        "unit": "switches/call",
                        "median": 5.04,
                        "baseline": "the seeds' 4",
                        "ratio": 1.26,
                        "note": "",
                    },
                ],
            }
        )
    )
    (tmp_path / "broken.json").write_text('{"figures": [{"section": ')
    source = source_with(
        tmp_path,
        f'{{% for group in figures("{results}") %}}\n## {{{{ group.section }}}}\n\n'
        "{% for row in group.rows %}\n"
        "- {{ row.name }} {{ row.value }} {{ row.unit }} {{ row.versus }}\n"
        "{% endfor %}\n---\n{% endfor %}\n"
        f'{{{{ figures("{tmp_path}/broken.json") is none }}}} '
        f'{{{{ figures("{tmp_path}/missing.json") is none }}}}\n',
    )
    result = build(tmp_path / "out", "--source", str(source))
    assert result.returncode == 0, result.stderr
    text = " ".join(read_deck(tmp_path / "out" / "index.html").sections.values())
    assert "raw blocking 435,750 msg/s sock_recv 181,834 msg/s 0.42× blocking" in text
    assert "cost total/ctxsw 5.04 switches/call 1.26× the seeds' 4" in text
    assert "True True" in text, "a half-written or missing results file is no figures, no error"
    # and the build says which figures are missing, and how to make them
    assert f"  {tmp_path}/broken.json: make bench" in result.stdout.replace(str(ROOT) + "/", "")
    assert f"{tmp_path}/missing.json: make bench" in result.stdout, result.stdout
    assert "slides: 2 figures missing" in result.stdout, result.stdout


def test_without_reveal_installed_the_build_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(slides.SlideError, match="run `make slides-setup`"):
        slides.build(tmp_path / "out", reveal=tmp_path / "no-reveal")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("placeholder", "message"),
    [
        ('{{ file(1, "nope.py") }}', "no file nope.py"),
        ('{{ file(1, "receiver.py", region="nope") }}', "no def or class 'nope'"),
        ('{{ file(1, "receiver.py", lines="5-1") }}', 'lines="5-1"'),
        ('{{ file(99, "receiver.py") }}', "no step 99"),
        ("{{ diff(1) }}", "no previous step"),
        ("{{ nothing_like_this }}", "'nothing_like_this' is undefined"),
        (
            '### Two\n{{ file(1, "receiver.py", fit=5) }}{{ file(1, "sender.py", fit=5) }}',
            "Two: two blocks too long for one slide",
        ),
        ('<img src="https://cdn.invalid/x.png">', "from the network"),
    ],
)
def test_a_bad_placeholder_is_one_clear_line(
    tmp_path: Path, placeholder: str, message: str
) -> None:
    result = build(tmp_path / "out", "--source", str(source_with(tmp_path, placeholder)))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists(), "a failed build leaves no half-built deck"


# ---------------------------------------------------------------------------------------------
# A real browser: headless Chromium, from disk, with no network
# ---------------------------------------------------------------------------------------------


def check_rendered(png: bytes, name: str) -> Image.Image:
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"{name}.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (1280, 720), image.size
    colours = image.getcolors(maxcolors=1 << 20) or []
    most = max(count for count, _ in colours)
    assert len(colours) > 50, f"{name}: {len(colours)} colours: a blank page?"
    assert most < 0.97 * image.width * image.height, f"{name}: one colour almost everywhere"
    return image


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium under Playwright (tools/slides.py: executable_path, no download)."""
    with slides.chromium() as chromium:
        yield chromium


def open_slide(browser: Browser, index: Path, fragment: str) -> slides.Tab:
    tab = slides.Tab.open(browser, f"{index.resolve().as_uri()}#/{fragment}")
    tab.wait_ready()
    return tab


@pytest.mark.slow
def test_chromium_shows_the_title_slide(built: Path, browser: Browser) -> None:
    tab = open_slide(browser, built / "index.html", "title")
    state = tab.page.evaluate(
        "({ready: document.querySelector('.reveal').classList.contains('ready'),"
        " total: Reveal.getTotalSlides(), current: Reveal.getCurrentSlide().id,"
        " h1: document.querySelector('section.present h1').textContent,"
        " notes: Reveal.hasPlugin('notes'), highlight: Reveal.hasPlugin('highlight'),"
        " speakerNotes: Reveal.getSlideNotes()})"
    )
    png = tab.page.screenshot()
    tab.page.close()
    assert tab.problems == []
    assert state["ready"] and state["current"] == "title"
    assert "D-Bus" in state["h1"]
    assert state["total"] == read_deck(built / "index.html").slides
    assert state["notes"] and state["highlight"]
    assert "live coding" in state["speakerNotes"]
    check_rendered(png, "title")


@pytest.mark.slow
def test_chromium_shows_a_highlighted_code_slide(built: Path, browser: Browser) -> None:
    step = table.load()[2] if len(table.load()) > 2 else table.load()[-1]
    name = changed_files(step)[0]
    fragment = f"step-{step.n}-{name.replace('.', '-').replace('/', '-')}"
    tab = open_slide(browser, built / "index.html", fragment)
    state = tab.page.evaluate(
        "(() => { const code = Reveal.getCurrentSlide().querySelector('pre code');"
        " const rows = [...code.querySelectorAll('td.hljs-ln-code')];"
        " return {current: Reveal.getCurrentSlide().id, hljs: code.classList.contains('hljs'),"
        " keywords: code.querySelectorAll('.hljs-keyword').length,"
        " lines: rows.map((td) => td.textContent), range: code.dataset.lines,"
        " numbers: [...code.querySelectorAll('td.hljs-ln-numbers')]"
        "   .map((td) => td.dataset.lineNumber),"
        " background: getComputedStyle(code).backgroundColor}; })()"
    )
    png = tab.page.screenshot()
    tab.page.close()
    assert tab.problems == []
    assert state["current"] == fragment
    assert state["hljs"] and state["keywords"] > 3, "the code is not highlighted"
    first, last = map(int, state["range"].split("-"))
    assert first == 1, "a file's first slide starts at its first line"
    text = (step.folder(ROOT / "steps") / name).read_text(encoding="utf-8")
    # (an empty line is shown as one space, so that its row keeps its height)
    shown_lines = [line.rstrip() for line in state["lines"]]
    assert shown_lines == text.splitlines()[first - 1 : last], "the browser shows the file's lines"
    assert state["numbers"] == [str(i) for i in range(first, last + 1)], "numbered as in the file"
    image = check_rendered(png, "code")
    dark = sum(image.convert("L").histogram()[:50])  # monokai's background is near black
    assert dark > 0.3 * image.width * image.height, "no dark code block on the code slide"


@pytest.mark.slow
def test_chromium_shows_a_diff_that_leads_with_code(built: Path, browser: Browser) -> None:
    """Step 04's (or the last step's) first diff slide: added lines highlighted; a picture of
    it in build/slides-test/diff.png."""
    step = table.load()[min(3, len(table.load()) - 1)]
    tab = open_slide(browser, built / "index.html", f"step-{step.n}-diff")
    state = tab.page.evaluate(
        "(() => { const code = Reveal.getCurrentSlide().querySelector('pre code');"
        " return {text: code.textContent, added: code.querySelectorAll('.hljs-addition').length,"
        " removed: code.querySelectorAll('.hljs-deletion').length}; })()"
    )
    png = tab.page.screenshot()
    tab.page.close()
    assert tab.problems == []
    assert state["added"] > 0, "no added line is highlighted"
    assert state["text"].startswith("--- "), state["text"][:80]
    check_rendered(png, "diff")


@pytest.mark.slow
def test_the_speaker_view_opens_offline_with_the_notes(built: Path, browser: Browser) -> None:
    """Pressing s opens reveal.js's speaker view (inline, no server) showing the slide's notes."""
    tab = open_slide(browser, built / "index.html", "title")
    notes = tab.page.evaluate("Reveal.getCurrentSlide().querySelector('aside.notes').textContent")
    assert "live coding" in notes
    with tab.page.expect_popup(timeout=TIMEOUT * 1000) as popup:
        tab.page.keyboard.press("s")
    view = popup.value
    first_words = " ".join(notes.split()[:6])
    wait_until(
        lambda: first_words in " ".join(str(view.evaluate("document.body.innerText")).split()),
        "the notes in the speaker view",
    )
    assert "Speaker View" in view.title()
    view.close()
    tab.page.close()
    assert tab.problems == []


@pytest.mark.slow
def test_the_browser_check_sees_failed_loads(tmp_path: Path, browser: Browser) -> None:
    """The console check can fail: a missing script and a network image are both reported."""
    page_file = tmp_path / "broken.html"
    page_file.write_text(
        '<script src="missing.js"></script><img src="http://127.0.0.1:9/never.png">'
        "<script>console.error('boom')</script>"
    )
    tab = slides.Tab.open(browser, page_file.as_uri())
    tab.page.evaluate("new Promise((resolve) => setTimeout(resolve, 0))")
    wait_until(lambda: any("never.png" in p and "failed" in p for p in tab.problems), "failures")
    problems = tab.problems
    tab.page.close()
    assert any("load failed" in p and "missing.js" in p for p in problems), problems
    assert any("network request: http://127.0.0.1:9/never.png" in p for p in problems), problems
    assert any("boom" in p for p in problems), problems


# Every slide, measured as reveal.js lays it out at 1280x720 (tests/slides_fit.js).
MEASURE = "\n".join(
    line
    for line in (ROOT / "tests" / "slides_fit.js").read_text(encoding="utf-8").splitlines()
    if not line.startswith("//")
)


def measure(browser: Browser, index: Path) -> list[dict[str, Any]]:
    tab = open_slide(browser, index, "")
    tab.page.wait_for_function(  # the highlight plugin numbers the lines after ready
        "[...document.querySelectorAll('code[data-line-numbers]')]"
        ".every((code) => code.querySelector('table.hljs-ln'))"
    )
    slides_measured: list[dict[str, Any]] = tab.page.evaluate(MEASURE)
    unfit = [m for m in slides_measured if m["problems"] or m["font"] < slidefit.FONT_FLOOR]
    for m in unfit[:5]:  # a picture of what does not fit, for a person to look at
        tab.page.evaluate(f"Reveal.slide({m['h']}, {m['v']})")
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.page.screenshot(path=str(SHOTS / f"unfit-{m['id'] or m['h']}-{m['v']}.png"))
    tab.page.close()
    assert tab.problems == []
    return slides_measured


def unfit(measured: list[dict[str, Any]]) -> list[str]:
    return [
        f"slide {m['h'] + 1}.{m['v'] + 1} {m['id'] or ''} {m['title']!r}: "
        + "; ".join(
            m["problems"]
            + [f"code at {m['font']:.1f} px ({m['fontAt']})"] * (m["font"] < slidefit.FONT_FLOOR)
        )
        for m in measured
        if m["problems"] or m["font"] < slidefit.FONT_FLOOR
    ]


@pytest.mark.slow
def test_every_slide_fits_at_1280x720_with_readable_code(built: Path, browser: Browser) -> None:
    """No scroll box, nothing clipped or sticking out, no code under the floor; on every slide,
    hand-written ones included (pictures of any that do not fit: build/slides-test/unfit-*)."""
    measured = measure(browser, built / "index.html")
    assert len(measured) == read_deck(built / "index.html").slides
    assert unfit(measured) == []
    fonts = [m["font"] for m in measured if m["font"] != float("inf")]
    assert min(fonts) >= slidefit.FONT_FLOOR
    floor = re.search(r"(\d+) px", (slides.SOURCE / "README.md").read_text(encoding="utf-8"))
    assert floor and int(floor[1]) == slidefit.FONT_FLOOR, "slides/README.md states the floor"


@pytest.mark.slow
def test_the_fit_check_sees_what_does_not_fit(tmp_path: Path, browser: Browser) -> None:
    """The measurement can fail: too much prose, a line too wide, a tiny code font, and a
    block that scrolls are each reported, and a slide that fits is not."""
    source = source_with(
        tmp_path,
        '<!-- .slide: id="fits" -->\n## Fine\n\n`code` at its size\n---\n'
        '<!-- .slide: id="tall" -->\n'
        + "".join(f"- item {i}\n" for i in range(30))
        + '---\n<!-- .slide: id="wide" -->\n<pre class="code smallest"><code>'
        + "x" * 160
        + '</code></pre>\n---\n<!-- .slide: id="tiny" -->\n'
        '<code style="font-size: 12px">tiny</code>\n'
        '---\n<!-- .slide: id="scrolls" -->\n<div style="height: 100px; overflow: auto">'
        + "<p>line</p>" * 20
        + "</div>\n",
    )
    result = build(tmp_path / "out", "--source", str(source))
    assert result.returncode == 0, result.stderr
    found = unfit(measure(browser, tmp_path / "out" / "index.html"))
    by_id = {line.split()[2]: line for line in found}
    assert set(by_id) == {"tall", "wide", "tiny", "scrolls"}, found
    assert "sticks out" in by_id["tall"] and "scrolls" in by_id["wide"]
    assert "code at 11.5 px" in by_id["tiny"] and "scrolls" in by_id["scrolls"]


@pytest.mark.slow
def test_the_pdf_has_one_page_per_slide(built: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "slides.pdf"
    result = subprocess.run(
        [sys.executable, "-m", "tools.slides", "pdf", "--deck", str(built), "--out", str(pdf)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert pages == read_deck(built / "index.html").slides, "one page per slide, no more"
    assert f"{pages} pages" in result.stdout


def test_slides_serve_answers_on_localhost_only(built: Path) -> None:
    server = Program(
        [sys.executable, "-m", "tools.slides", "serve", "--port", "0", "--deck", str(built)],
        cwd=ROOT,
    )
    try:
        match = server.expect(r"slides on http://127\.0\.0\.1:(\d+)/")
        port = int(match[1])
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
        with direct.open(f"http://127.0.0.1:{port}/index.html", timeout=10) as answer:
            assert answer.status == 200
            assert b"vendor/reveal.js" in answer.read()
        listening = ["ss", "-Htln", f"sport = :{port}"]
        if shutil.which("ss"):  # iproute2: which address it listens on
            bound = subprocess.run(listening, capture_output=True, text=True, check=True)
            assert bound.stdout.strip(), "the server is not listening"
            assert all("127.0.0.1:" in line for line in bound.stdout.splitlines()), bound.stdout
    finally:
        server.stop()


def test_the_strace_10_slide_shows_the_drain() -> None:
    """The slide hid the drain ("… 20 lines left out …" over it): one wakeup, then each
    socket's burst from its first datagram to its last and the EAGAIN that ends it."""
    text = (ROOT / "tests" / "strace" / "step-10.txt").read_text(encoding="utf-8")
    shown = "\n".join(slidefit.trace_excerpt(text, table.get(10).sockets))
    for name in table.get(10).sockets:
        first = shown.index(f'"{name} burst 1"')
        last = shown.index(f'"{name} burst 8"')
        eagain = shown.index(f"<{name}>, {{msg_namelen=110}}, MSG_DONTWAIT) = -1 EAGAIN", last)
        assert first < last < eagain, shown
    assert "summary: step 10: 1 thread," in shown
