"""`make slides`: the talk's slides, built from slides/*.md and the steps, as an offline HTML deck.

    python3 -m tools.slides build [--out DIR] [--source DIR] [--steps DIR]
    python3 -m tools.slides serve [--port N]      (localhost only)
    python3 -m tools.slides pdf [--out FILE]      (Debian's chromium, under Playwright, prints it)

The source is Markdown with Jinja placeholders (slides/README.md lists them): the code on a
slide is read from the step's file when the deck is built, and a "what changed" slide is
`make diff-N` (tools/stepdiff.py). The engine, reveal.js, comes from npm, pinned in
slides/package-lock.json and installed by `make slides-setup` into build/slides-npm/; only
the files the deck uses are copied next to index.html, so build/slides/ opens from disk
with no network.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import filecmp
import functools
import glob as globbing
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools import slidefit, table

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

ROOT = table.ROOT
SOURCE = ROOT / "slides"
OUT = ROOT / "build" / "slides"
NPM = ROOT / "build" / "slides-npm"  # `npm ci` of slides/package.json goes here (ignored)
REVEAL = NPM / "node_modules" / "reveal.js" / "dist"
PDF = ROOT / "build" / "slides.pdf"

# The files of reveal.js the deck uses: deck.html links exactly these (vendor/ in the output).
VENDORED = (
    "reveal.css",
    "theme/white.css",
    "plugin/highlight/monokai.css",
    "reveal.js",
    "plugin/highlight.js",
    "plugin/notes.js",
)
LANGUAGES = {".py": "python", ".toml": "toml", ".sh": "bash", ".json": "json", ".xml": "xml"}
SEPARATOR = "---"  # a line of its own: the next slide
VERTICAL = "--"  # a line of its own: the next slide below this one
NOTES = re.compile(r"^Notes?:\s*$", re.MULTILINE)
SLIDE_ATTRS = re.compile(r"^\s*<!--\s*\.slide:(.*?)-->\s*\n?", re.DOTALL)
ATTR = re.compile(r'([\w-]+)="([^"]*)"')


class SlideError(Exception):
    """A problem in the slide source or a missing input: reported as one line."""


# ---------------------------------------------------------------------------------------------
# Placeholders: what the slide source can call (see slides/README.md)
# ---------------------------------------------------------------------------------------------


@dataclass
class Deck:
    """Everything one build pulls in: the steps, and the code blocks placed so far."""

    steps: list[table.Step]
    steps_dir: Path
    out: Path
    blocks: list[list[str]] = field(default_factory=list)  # each: one part per slide
    media: dict[Path, str] = field(default_factory=dict)
    wanted: dict[str, str] = field(default_factory=dict)  # a missing figure -> how to make it

    # -- the steps ------------------------------------------------------------------------
    def step(self, n: int | table.Step) -> table.Step:
        if isinstance(n, table.Step):
            return n
        for step in self.steps:
            if step.n == int(n):
                return step
        raise SlideError(f"no step {n} in steps/steps.toml (there are {len(self.steps)})")

    def folder(self, n: int | table.Step) -> Path:
        path = self.step(n).folder(self.steps_dir)
        if not path.is_dir():
            raise SlideError(f"step {self.step(n).n}: no folder {rel(path)}")
        return path

    def files(self, n: int | table.Step) -> list[str]:
        """The step's files, those its `run` line names first (receiver.py, sender.py, ...)."""
        step = self.step(n)
        names = sorted(step_files(self.folder(step)))
        mentioned = [name for name in re.findall(r"[\w./-]+\.\w+", step.run) if name in names]
        first = list(dict.fromkeys(mentioned))
        return first + [name for name in names if name not in first]

    def changed(self, n: int | table.Step) -> list[str]:
        """The files of step n that are new or differ from step n-1 (all of them for step 1)."""
        step = self.step(n)
        if step.n == 1:
            return self.files(step)
        before = self.folder(step.n - 1)
        return [
            name
            for name in self.files(step)
            if not (before / name).is_file()
            or not filecmp.cmp(before / name, self.folder(step) / name, shallow=False)
        ]

    def is_text(self, n: int | table.Step, name: str) -> bool:
        """Whether a step's file is text a slide can show (not a picture, say)."""
        try:
            (self.folder(n) / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            return False
        return True

    def removed(self, n: int | table.Step) -> list[str]:
        step = self.step(n)
        if step.n == 1:
            return []
        return sorted(set(step_files(self.folder(step.n - 1))) - set(self.files(step)))

    # -- code blocks ----------------------------------------------------------------------
    def place(self, *parts: str) -> str:
        """Park finished HTML; the Markdown sees an HTML comment that passes through as is.

        A block of several parts makes its slide several slides, one part each (render_slide).
        """
        self.blocks.append(list(parts))
        return f"\n\n<!--slides:block:{len(self.blocks) - 1}-->\n\n"

    def file(
        self,
        n: int | table.Step,
        name: str,
        lines: str | None = None,
        region: str | None = None,
        size: str | None = None,
        fit: int = slidefit.CODE_LINES,
    ) -> str:
        """A step's file as a code block; lines="12-30" or region="main" (a def or class).

        More than fit lines go on several slides, cut between functions and classes.
        """
        step = self.step(n)
        path = self.folder(step) / name
        if not path.is_file():
            raise SlideError(f"step {step.n}: no file {name} in {rel(self.folder(step))}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SlideError(f"{rel(path)} is not UTF-8 text: no slide can show it") from None
        rows = text.splitlines(keepends=True)
        first, last = 1, len(rows)
        if lines or region:
            first, last = (
                parse_lines(lines, path) if lines else find_region(text, region or "", path)
            )
        ranges = slidefit.split_code(text, first, last, fit)
        parts = ["".join(rows[a - 1 : b]) for a, b in ranges]
        size = size or slidefit.common_size([p.splitlines() for p in parts], last)
        blocks = []
        for k, ((a, b), part) in enumerate(zip(ranges, parts, strict=True), 1):
            attrs = {"data-file": rel(path), "data-step": str(step.n), "data-lines": f"{a}-{b}"}
            if len(parts) > 1:
                attrs["data-part"] = f"{k}/{len(parts)}"
            blocks.append(code_block(part, language(path), attrs, a, size))
        return self.place(*blocks)

    def diff(
        self, n: int | table.Step, size: str | None = None, fit: int = slidefit.CODE_LINES
    ) -> str:
        """`make diff-N`: what step n adds to step n-1, as code blocks of at most fit lines:
        the code's hunks first, a file added or removed as one `Only in` line (its code has
        slides of its own), the docstrings' hunks last."""
        step = self.step(n)
        if step.n == 1:
            raise SlideError("diff(1): step 1 has no previous step to compare with")
        self.folder(step.n - 1), self.folder(step)  # clear errors for missing folders
        parts = slidefit.split_diff(step_diff(step.n, self.steps_dir), read_text, fit)
        texts = [part.text() for part in parts]
        size = size or slidefit.common_size([t.splitlines() for t in texts])
        blocks = []
        for k, text in enumerate(texts, 1):
            attrs = {"data-diff": str(step.n)}
            if len(texts) > 1:
                attrs["data-part"] = f"{k}/{len(texts)}"
            blocks.append(code_block(text, "diff", attrs, 0, size))
        return self.place(*blocks)

    def output(self, pattern: str, size: str | None = None) -> str:
        """Text files (a program's recorded output) as code blocks, one per file."""
        paths = self.glob(pattern)
        if not paths:
            raise SlideError(f"output({pattern!r}): no such file")
        blocks = []
        for path in paths:
            text = path.read_text(encoding="utf-8", errors="replace")
            attrs = {"data-output": rel(path)}
            size_ = size or slidefit.common_size([text.splitlines()], wrap=True)
            blocks.append(self.place(code_block(text, "plaintext", attrs, 0, size_)))
        return "".join(blocks)

    def trace(self, path: str | Path, n: int | table.Step) -> str:
        """A recorded `make strace-N` (tests/strace/step-NN.txt): the lines about threads and
        the step's sockets that show how it waits, and the summary (slidefit.trace_excerpt)."""
        source = path if isinstance(path, Path) else ROOT / path
        text = self.read(source)
        lines = slidefit.trace_excerpt(text, self.step(n).sockets)
        attrs = {"data-output": rel(source), "data-excerpt": ""}
        size = slidefit.common_size([lines], wrap=True)
        return self.place(code_block("\n".join(lines), "plaintext", attrs, 0, size))

    def image(self, path: str | Path, alt: str = "", css_class: str = "figure") -> str:
        """An image from the repo (a plot, a benchmark figure), copied into the deck."""
        source = path if isinstance(path, Path) else ROOT / path
        if not source.is_file():
            raise SlideError(f"image({rel(source)!r}): no such file")
        name = self.media.get(source)
        if name is None:
            name = f"media/{len(self.media):02d}-{source.name}"
            self.media[source] = name
        alt_text = html.escape(alt or source.name)
        return self.place(
            f'<img class="{html.escape(css_class)}" src="{name}" alt="{alt_text}"'
            f' data-source="{html.escape(rel(source))}">'
        )

    def glob(self, pattern: str) -> list[Path]:
        """Files of the repo matching a glob (sorted), never the deck's own output."""
        outputs = [OUT.resolve(), NPM.resolve(), self.out.resolve()]
        found = []
        for name in globbing.glob(str(ROOT / pattern), recursive=True):
            path = Path(name).resolve()
            if path.is_file() and not any(path.is_relative_to(out) for out in outputs):
                found.append(path)
        return sorted(found)

    def read(self, path: str | Path) -> str:
        """A file's text, for the slide source to pick lines from (a summary line, say)."""
        source = path if isinstance(path, Path) else ROOT / path
        try:
            return source.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise SlideError(f"read({rel(source)!r}): {error.strerror}") from None

    def figures(self, path: str | Path) -> list[dict[str, Any]] | None:
        """`make bench`'s results by section, ready to show; None if there are none (yet).

        The file holds {"figures": [{"section", "name", "unit", "median", "baseline",
        "ratio", "note"}, ...]}; anything else (or a file being written) gives None, and
        the slide says how to make the figures instead.
        """
        source = path if isinstance(path, Path) else ROOT / path
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
            sections: dict[str, list[dict[str, str]]] = {}
            for figure in data["figures"]:
                ratio = figure.get("ratio")
                baseline = figure.get("baseline") or ""
                versus = ""
                if isinstance(ratio, int | float) and baseline and baseline != figure["name"]:
                    versus = f"{ratio:.2f}× {baseline}"
                sections.setdefault(str(figure["section"]), []).append(
                    {
                        "name": str(figure["name"]),
                        "value": number(float(figure["median"])),
                        "unit": str(figure.get("unit") or ""),
                        "versus": versus,
                        "note": str(figure.get("note") or ""),
                    }
                )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.missing(rel(source), "make bench")
            return None
        if not sections:
            self.missing(rel(source), "make bench")
            return None
        environment = data.get("environment") if isinstance(data, dict) else None
        return [
            {"section": name, "rows": rows, "environment": environment}
            for name, rows in sections.items()
        ]

    def missing(self, what: str, how: str) -> str:
        """A figure the deck would show is not there (yet): the build says so, and how."""
        self.wanted[what] = how
        return ""

    def context(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "step": self.step,
            "files": self.files,
            "changed": self.changed,
            "removed": self.removed,
            "is_text": self.is_text,
            "file": self.file,
            "diff": self.diff,
            "output": self.output,
            "trace": self.trace,
            "image": self.image,
            "glob": self.glob,
            "read": self.read,
            "newest": newest,
            "exists": lambda pattern: bool(self.glob(pattern)),
            "figures": self.figures,
            "missing": self.missing,
            "defines": self.defines,
            "rel": rel,
        }

    def defines(self, text: str, last: bool = False) -> tuple[table.Step, str, str] | None:
        """The first (or last) step file with a class declaring the interface called text.

        A class declares it when its header names it, or when it has an interface_name=
        keyword and the file names it: class Incoming(..., interface_name=NAME).
        """
        for step in reversed(self.steps) if last else self.steps:
            folder = step.folder(self.steps_dir)
            if not folder.is_dir():
                continue
            for name in sorted(step_files(folder)):
                if not name.endswith(".py"):
                    continue
                source = (folder / name).read_text(encoding="utf-8", errors="replace")
                if text not in source:
                    continue
                with contextlib.suppress(SyntaxError):
                    for node in ast.walk(ast.parse(source)):
                        if isinstance(node, ast.ClassDef) and declares(source, node, text):
                            return step, name, node.name
        return None


def declares(source: str, node: ast.ClassDef, text: str) -> bool:
    lines = source.splitlines()
    header = "\n".join(lines[node.lineno - 1 : node.body[0].lineno - 1])
    return text in header or any(k.arg == "interface_name" for k in node.keywords)


def newest(paths: list[Path]) -> Path | None:
    """The most recently written of some files (the latest plot), or None."""
    return max(paths, key=lambda path: path.stat().st_mtime, default=None)


def step_files(folder: Path) -> list[str]:
    return [
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc")
    ]


def step_diff(n: int, steps_dir: Path) -> str:
    """The output of `make diff-N` (tools/stepdiff.py), without the files' timestamps."""
    from tools import stepdiff  # the one definition of a step's diff

    with tempfile.TemporaryDirectory() as empty:
        command = stepdiff.diff_command(n, str(steps_dir), "never", empty)
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):
        raise SlideError(f"diff for step {n} failed: {result.stderr.strip()}")
    # "--- steps/a/x.py\t2025-01-01 10:00:00.0 +0100": the date would change with every checkout
    text = re.sub(r"^((?:---|\+\+\+) \S+)\t.*$", r"\1", result.stdout, flags=re.MULTILINE)
    # "diff -ruN '--exclude=__pycache__' '--color=never' a b": just the two files on a slide
    return re.sub(r"^diff -\S+ .* (\S+) (\S+)$", r"diff -ru \1 \2", text, flags=re.MULTILINE)


def read_text(path: str) -> str | None:
    """A file named in a diff (relative to the repository), or None if it does not exist."""
    try:
        return (ROOT / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def language(path: Path) -> str:
    return LANGUAGES.get(path.suffix, "plaintext")


def rel(path: Path | str) -> str:
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def parse_lines(spec: str, path: Path) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(spec))
    count = len(path.read_text(encoding="utf-8").splitlines())
    if not match or not 1 <= int(match[1]) <= int(match[2]) <= count:
        raise SlideError(f'{rel(path)}: lines="{spec}" is not a range within 1-{count}')
    return int(match[1]), int(match[2])


def node_start(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])  # type: ignore[attr-defined]


def find_region(text: str, name: str, path: Path) -> tuple[int, int]:
    """The lines of the def or class called name (dotted for methods: Class.method)."""
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise SlideError(f"{rel(path)}: region={name!r}: not Python ({error.msg})") from None
    scope: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in name.split("."):
        node = next(
            (
                item
                for item in scope
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and item.name == part
            ),
            None,
        )
        if node is None:
            raise SlideError(f"{rel(path)}: no def or class {name!r} for region={name!r}")
        scope = node.body  # type: ignore[attr-defined]
    assert node is not None
    return node_start(node), node.end_lineno  # type: ignore[attr-defined]


def code_block(
    text: str, lang: str, attrs: dict[str, str], first_line: int, size: str | None
) -> str:
    """A <pre><code> block for reveal's highlight plugin; the text is the file's, escaped."""
    body = text[:-1] if text.endswith("\n") else text
    if size in (None, "auto"):
        size = slidefit.common_size([body.split("\n")], first_line + body.count("\n"))
    if lang == "plaintext":
        size += " output"  # recorded output: long lines wrap (slides.css)
    extra = dict(attrs)
    if first_line:
        extra["data-line-numbers"] = ""
        extra["data-ln-start-from"] = str(first_line)
    attributes = "".join(
        f' {key}="{html.escape(value)}"' if value else f" {key}" for key, value in extra.items()
    )
    return (
        f'<pre class="code {size}"><code class="language-{lang}" data-noescape{attributes}>'
        f"{html.escape(body, quote=False)}</code></pre>"
    )


def number(value: float) -> str:
    """A measured figure, as a slide shows it: 435,750 · 9,814 · 419.7 · 5.98 · 0.417."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}"


# ---------------------------------------------------------------------------------------------
# Markdown with slide separators -> <section>s
# ---------------------------------------------------------------------------------------------


def split_slides(text: str) -> list[list[str]]:
    """Horizontal slides, each a list of vertical ones; separators inside ``` fences don't count."""
    columns: list[list[str]] = [[]]
    current: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if fence is None and re.match(r"^(```+|~~~+)", stripped):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and stripped in (SEPARATOR, VERTICAL):
            columns[-1].append("\n".join(current))
            current = []
            if stripped == SEPARATOR:
                columns.append([])
            continue
        current.append(line)
    columns[-1].append("\n".join(current))
    return [
        [slide for slide in column if slide.strip()]
        for column in columns
        if any(slide.strip() for slide in column)
    ]


def markdown() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def render_slide(source: str, deck: Deck, md: Any) -> list[str]:
    """One slide of the source as <section>s: one, or one per part of its long code block."""
    attrs: dict[str, str] = {}
    match = SLIDE_ATTRS.match(source)
    if match:
        attrs = dict(ATTR.findall(match[1]))
        source = source[match.end() :]
    notes = ""
    parts = NOTES.split(source, maxsplit=1)
    if len(parts) == 2:
        source, notes = parts
    body = md.render(source)
    if notes.strip():
        body += f'<aside class="notes">{md.render(notes)}</aside>'
    marker = re.compile(r"<!--slides:block:(\d+)-->")
    long = [int(m[1]) for m in marker.finditer(body) if len(deck.blocks[int(m[1])]) > 1]
    if len(long) > 1:
        title = re.search(r"<h\d>(.*?)</h\d>", body)
        name = re.sub("<[^>]+>", "", title[1]) if title else attrs.get("id", "a slide")
        raise SlideError(f"{name}: two blocks too long for one slide: give each its own slide")
    count = len(deck.blocks[long[0]]) if long else 1
    sections = []
    for k in range(count):
        text = marker.sub(functools.partial(pick, deck, long, k), body)
        these = dict(attrs)
        if count > 1:
            if k and "id" in these:
                these["id"] += f"-{k + 1}"
            these["data-part"] = f"{k + 1}/{count}"
            # the heading says which part this is: "… 2/3"
            text = re.sub(
                r"</h(\d)>", rf' <small class="part">{k + 1}/{count}</small></h\1>', text, count=1
            )
        attributes = "".join(f' {key}="{html.escape(value)}"' for key, value in these.items())
        sections.append(f"<section{attributes}>\n{text}</section>")
    return sections


def pick(deck: Deck, long: list[int], k: int, match: re.Match[str]) -> str:
    """The HTML for a block marker on part k of a slide: part k of its long block."""
    block = deck.blocks[int(match[1])]
    return block[k if int(match[1]) in long else 0]


def render_deck(deck: Deck, source: Path) -> tuple[str, int]:
    """The <section>s of the whole talk, and how many slides there are."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(source)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        extensions=["jinja2.ext.do"],
        lstrip_blocks=True,
    )
    try:
        text = env.get_template("talk.md").render(deck.context())
    except jinja2.TemplateNotFound as error:
        raise SlideError(f"{rel(source)}: no template {error.name}") from None
    except jinja2.TemplateSyntaxError as error:
        raise SlideError(f"{error.filename or 'talk.md'}:{error.lineno}: {error.message}") from None
    except jinja2.UndefinedError as error:
        raise SlideError(f"slide source: {error.message}") from None
    md = markdown()
    sections = []
    count = 0
    for column in split_slides(text):
        slides = [section for slide in column for section in render_slide(slide, deck, md)]
        count += len(slides)
        if len(slides) == 1:
            sections.append(slides[0])
        else:
            sections.append("<section>\n" + "\n".join(slides) + "\n</section>")
    return "\n".join(sections), count


# ---------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------


def build(
    out: Path = OUT,
    source: Path = SOURCE,
    steps_dir: Path | None = None,
    reveal: Path = REVEAL,
) -> Path:
    """Write the deck to out/ (index.html, vendor/, media/, slides.css); returns index.html."""
    missing = [name for name in VENDORED if not (reveal / name).is_file()]
    if missing:
        raise SlideError(
            f"reveal.js is not installed in {rel(reveal)} (missing {missing[0]}): "
            "run `make slides-setup` (npm ci of slides/package-lock.json)"
        )
    steps_dir = steps_dir or ROOT / "steps"  # not $STEPS: that names an attendee's copy to grade
    if not steps_dir.is_absolute():
        steps_dir = ROOT / steps_dir
    try:
        steps = table.load()
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SlideError(f"steps/steps.toml: {error}") from None
    deck = Deck(steps=steps, steps_dir=steps_dir, out=out)
    sections, count = render_deck(deck, source)
    page = (source / "deck.html").read_text(encoding="utf-8")
    title = re.search(r"<h1>(.*?)</h1>", sections, re.DOTALL)
    page = page.replace("{{ title }}", re.sub("<[^>]+>", "", title[1]) if title else "slides")
    page = page.replace("{{ slides }}", sections)
    if remote := REMOTE.search(page):
        raise SlideError(
            f"the deck would load {remote[2] or remote[3]} from the network: use a local file"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".slides-", dir=out.parent))
    try:
        for name in VENDORED:
            target = staging / "vendor" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(reveal / name, target)
            if name.endswith(".css"):
                copy_css_assets(reveal / name, target)
        shutil.copyfile(source / "slides.css", staging / "slides.css")
        for path, name in deck.media.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staging / name)
        (staging / "index.html").write_text(page, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp made it private; the deck is for showing
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    print(f"{rel(out / 'index.html')}: {count} slides, steps 1-{len(steps)}", flush=True)
    if deck.wanted:
        print(
            f"slides: {len(deck.wanted)} figure{'s' * (len(deck.wanted) > 1)} missing; their"
            " slides say how to make them instead. To fill them in, then `make slides` again:",
            flush=True,
        )
        for what, how in deck.wanted.items():
            print(f"  {what}: {how}", flush=True)
    return out / "index.html"


# src=/href=/poster= of a script, style, image, font... (a link <a href> in the prose is fine)
REMOTE = re.compile(
    r"""<(?!a[\s>])[a-z]+[^>]*?\s(src|href|poster|data|srcset)=["']?\s*((?:https?:)?//[^"'\s>]+)"""
    r"""|url\(\s*["']?((?:https?:)?//[^"')]+)""",
    re.IGNORECASE,
)
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")


def copy_css_assets(source: Path, target: Path) -> None:
    """Copy the local files a stylesheet refers to (fonts); a remote one is an error."""
    for match in CSS_URL.finditer(source.read_text(encoding="utf-8")):
        ref = match[1] or match[2]
        if ref.startswith(("data:", "#")):
            continue
        if re.match(r"^([a-z]+:)?//", ref, re.IGNORECASE):
            raise SlideError(f"{rel(source)} loads {ref}: pick a theme that needs no network")
        asset = (source.parent / ref.split("?")[0].split("#")[0]).resolve()
        if asset.is_file():
            destination = target.parent / ref.split("?")[0].split("#")[0]
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(asset, destination)


# ---------------------------------------------------------------------------------------------
# Debian's Chromium, headless, driven by Playwright (never a browser download)
# ---------------------------------------------------------------------------------------------

CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    # The network is not used: no name resolves, so any attempt fails (and is seen failing).
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SlideError("no chromium: run `make slides-setup` (installs Debian's chromium)")


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """The system's Chromium (Debian's /usr/bin/chromium) under Playwright, headless."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        raise SlideError("no playwright: run `make slides-setup`") from None
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=chromium_binary(), args=list(CHROMIUM_ARGS), timeout=60_000
            )
        except Error as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else "no message"
            raise SlideError(f"chromium did not start: {first}") from None
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A page at the deck's size, and what went wrong in it: failed loads, console errors,
    exceptions, and any request that is not for a local file."""

    page: Page
    problems: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, browser: Browser, url: str, width: int = 1280, height: int = 720) -> Tab:
        page = browser.new_page(viewport={"width": width, "height": height})
        tab = cls(page)
        page.on("requestfailed", tab._failed)
        page.on("request", tab._request)
        page.on("console", tab._console)
        page.on("pageerror", lambda error: tab.problems.append(f"exception: {error}"))
        page.goto(url, wait_until="load")
        return tab

    def _failed(self, request: Request) -> None:
        self.problems.append(f"load failed: {request.failure} {request.url}")

    def _request(self, request: Request) -> None:
        if not request.url.startswith(("file:", "data:", "about:", "blob:")):
            self.problems.append(f"network request: {request.url}")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text} {message.location.get('url', '')}")

    def wait_ready(self) -> None:
        """Until reveal.js says it is ready, then two frames so the slide is painted."""
        self.page.evaluate(
            "new Promise((resolve) => {"
            "  const frames = () => requestAnimationFrame(() => requestAnimationFrame(resolve));"
            "  if (window.Reveal && Reveal.isReady()) frames();"
            "  else if (window.Reveal) Reveal.on('ready', frames);"
            "  else throw new Error('no Reveal: reveal.js did not load');"
            "})"
        )


def pdf_pages(data: bytes) -> int:
    """The number of pages of a PDF as Chromium writes it (one /Type /Page object each)."""
    return len(re.findall(rb"/Type\s*/Page\b", data))


def print_pdf(deck: Path = OUT, out: Path = PDF) -> Path:
    """The deck as a PDF, one page per slide, via reveal's ?print-pdf layout."""
    index = deck / "index.html"
    if not index.is_file():
        raise SlideError(f"no deck in {rel(deck)}: run `make slides` first")
    with chromium() as browser:
        tab = Tab.open(browser, index.resolve().as_uri() + "?print-pdf")
        tab.wait_ready()
        tab.page.wait_for_selector(".pdf-page", state="attached", timeout=60_000)
        data = tab.page.pdf(print_background=True, prefer_css_page_size=True)
        if tab.problems:
            raise SlideError(f"the deck did not load cleanly: {tab.problems[0]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"{rel(out)}: {pdf_pages(data)} pages", flush=True)
    return out


# ---------------------------------------------------------------------------------------------
# Serving (localhost only)
# ---------------------------------------------------------------------------------------------


def serve(deck: Path = OUT, port: int = 8000) -> None:
    if not (deck / "index.html").is_file():
        raise SlideError(f"no deck in {rel(deck)}: run `make slides` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(deck))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as error:
        raise SlideError(
            f"cannot serve on 127.0.0.1:{port}: {error.strerror} (SLIDES_PORT=8001 picks another)"
        ) from None
    with server:
        print(f"slides on http://127.0.0.1:{server.server_address[1]}/  (Ctrl-C stops)", flush=True)
        print("speaker notes: press s in the deck", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tools.slides", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="build the deck")
    build_parser.add_argument("--out", type=Path, default=OUT)
    build_parser.add_argument("--source", type=Path, default=SOURCE)
    build_parser.add_argument("--steps", type=Path, default=None)
    serve_parser = sub.add_parser("serve", help="serve the built deck on 127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    serve_parser.add_argument("--deck", type=Path, default=OUT)
    pdf_parser = sub.add_parser("pdf", help="print the built deck to PDF (headless chromium)")
    pdf_parser.add_argument("--deck", type=Path, default=OUT)
    pdf_parser.add_argument("--out", type=Path, default=PDF)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build(args.out.resolve(), args.source.resolve(), args.steps)
        elif args.command == "serve":
            serve(args.deck, args.port)
        else:
            print_pdf(args.deck, args.out)
    except SlideError as error:
        print(f"slides: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"slides: {error.strerror}: {error.filename}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
