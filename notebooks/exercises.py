"""The notebooks' exercises: a copy of a step to edit, graded like `make check-N`.

Everything an exercise says is derived from the finished step, so it cannot drift:
the files to touch are the files step N changed since step N-1 (steps/ compared),
minus the helpers copied as they are; an emptied function keeps its signature and
docstring, and its TODO only names calls its finished body makes
(tests/test_exercises.py checks the TODOs, the hints and the file lists).

    exercise = talk.exercise(5)    # once: the copy in my_steps/, and what to do
    exercise.check()               # the graders of `make check-5` on your copy
    exercise.reset()               # start again
"""

from __future__ import annotations

import ast
import filecmp
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the kernel runs in notebooks/; the tools live one level up
    sys.path.insert(0, str(ROOT))

from IPython.display import Code, Markdown, display  # noqa: E402

from tools import table  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
MY_STEPS = Path(os.environ.get("INCOMING_MY_STEPS") or NOTEBOOKS / "my_steps")
if not table.writable(MY_STEPS):  # a shared read-only checkout: the copies go to your home
    MY_STEPS = Path.home() / "incoming-my_steps"

CHECK_TIMEOUT = "5"  # seconds a check waits for a program's line: a few, not the graders' 20
PASSED, FAILED = "✓", "✗"  # in DejaVu Sans and every system font; emoji need an emoji font


def folder(n: int) -> Path:
    """Step n's folder in the repo (always the repo's steps/, never an attendee's copy)."""
    return table.get(n).folder(table.ROOT / "steps")


def step_files(where: Path) -> list[str]:
    return sorted(
        p.name for p in where.iterdir() if p.is_file() and not p.name.endswith((".pyc", "~"))
    )


def changed_files(n: int) -> list[str]:
    """The files step n adds or changes since step n-1 (every file, for step 1)."""
    new = folder(n)
    if n == 1:
        return step_files(new)
    old = folder(n - 1)
    return [
        name
        for name in step_files(new)
        if not (old / name).is_file() or not filecmp.cmp(old / name, new / name, shallow=False)
    ]


@dataclass(frozen=True)
class Start:
    """How the exercise for step N starts: step N-1's folder, plus these parts of step N.

    given:    step N's files copied as they are (helpers, not the step's idea)
    skeleton: step N's file -> {function: what its body does}; those bodies are emptied
              and the text becomes the TODO (it may only name calls the body makes)
    The attendee touches every other file step N changed.
    """

    given: tuple[str, ...] = ()
    skeleton: dict[str, dict[str, str]] = field(default_factory=dict)


EXERCISES = {
    1: Start(  # there is no step 00 to start from: step 01 with receive() emptied
        given=("dgram.py", "sender.py"),
        skeleton={
            "receiver.py": {
                "receive": "loop forever: `data, _, flags, _ = sock.recvmsg(dgram.MAX_SIZE)`,"
                ' then `print(f"{name}: {dgram.describe(data, flags)}", flush=True)`.'
            }
        },
    ),
    5: Start(given=("simulated_gpio.py", "can.py")),
    7: Start(
        skeleton={
            "client.py": {
                "print_messages": "`async for source, timestamp_ns, text in incoming.message:`"
                " print each message as `source: text  (1.2 ms ago)`, the delay being"
                " `(time.time_ns() - timestamp_ns) / 1e6`, with `flush=True`.",
                "follow_server": "`async for name, _, new_owner in dbus.name_owner_changed:`"
                " for our NAME, print that it is here (a new_owner) and"
                " `await print_sources(incoming)`, or that it is gone (no new_owner).",
            }
        }
    ),
    8: Start(given=("chart.py",)),
    9: Start(given=("memfd.py", "snapshot.py")),  # snapshot.py, and the module it imports
}


class Exercise:
    """Step n, done by the attendee: a copy in MY_STEPS to edit, graded like `make check-N`."""

    def __init__(self, n: int) -> None:
        self.step = table.get(n)
        self.start = EXERCISES.get(n, Start())
        self.folder = MY_STEPS / self.step.dir

    @property
    def files(self) -> list[str]:
        """The files the attendee works on: what step n changed, but the given helpers."""
        return [f for f in changed_files(self.step.n) if f not in self.start.given]

    def prepare(self) -> None:
        """Copy the starting point into MY_STEPS, unless the attendee's copy is there already."""
        if self.folder.exists():
            return
        n, start = self.step.n, self.start
        if n > 1:
            skip = shutil.ignore_patterns("__pycache__")
            shutil.copytree(folder(n - 1), self.folder, ignore=skip)
        self.folder.mkdir(parents=True, exist_ok=True)
        for given in start.given:
            shutil.copy2(folder(n) / given, self.folder / given)
        for file, todos in start.skeleton.items():
            (self.folder / file).write_text(empty_functions((folder(n) / file).read_text(), todos))

    def origin(self) -> str:
        n, start = self.step.n, self.start
        parts = [f"step {n - 1:02d}"] if n > 1 else []
        for file, todos in start.skeleton.items():
            emptied = ", ".join(f"`{name}()`" for name in todos)
            parts.append(f"step {n:02d}'s `{file}` with {emptied} emptied")
        if start.given:
            parts.append(f"step {n:02d}'s {', '.join(f'`{g}`' for g in start.given)} as they are")
        return " + ".join(parts)

    def link(self, file: str) -> str:
        """The file, named by its step folder (tabs of several steps' receiver.py then say
        whose they are in the link), as a link JupyterLab opens in its editor."""
        path = self.folder / file
        shown = f"{self.step.dir}/{file}"
        if path.is_relative_to(NOTEBOOKS):
            return f"[{shown}]({path.relative_to(NOTEBOOKS)})"
        return f"`{shown}`"  # outside JupyterLab's folder: no link can open it

    def introduce(self) -> None:
        n = self.step.n
        files = self.files
        touch = "the file" if len(files) == 1 else f"these {len(files)} files"
        display(
            Markdown(
                f"**Exercise: step {n:02d}.** {self.step.idea}\n\n"
                f"Your copy ({self.origin()}) is in `{self.folder}`. Work on {touch}:"
                f" {', '.join(self.link(f) for f in files)}; save, and run the check cell:"
                f" it runs the graders of `make check-{n} STEPS={self.folder.parent}`."
            )
        )

    def reset(self) -> None:
        """Throw the copy away and start again from the starting point."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.prepare()

    def solve(self) -> None:
        """Copy the finished step's version of every file the exercise names (a spoiler)."""
        for file in self.files:
            shutil.copy2(folder(self.step.n) / file, self.folder / file)

    def check(self) -> None:
        """Grade the copy with tests/graders/ (python -m tools.grade N --steps MY_STEPS).

        Each test shows as it finishes; a wait gives up after CHECK_TIMEOUT seconds (the
        graders' own default is longer, for slow machines). ■ stops the grader and reaps it.
        Passed: one line. Failed: why (in words), what the grader saw, and the hint.
        """
        n = self.step.n
        command = [sys.executable, "-m", "tools.grade", str(n)]
        command += ["--steps", str(self.folder.parent), "-x", "--color=no", "-v", "-v"]
        command += ["-p", "no:cacheprovider"]  # no .pytest_cache in the attendee's folders
        env = {
            **os.environ,
            "INCOMING_TEST_TIMEOUT": os.environ.get("INCOMING_TEST_TIMEOUT", CHECK_TIMEOUT),
        }
        progress = display(Markdown(f"checking step {n:02d}…"), display_id=True)
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        lines: list[str] = []
        done = 0
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                if match := re.match(r"\S+::(\S+) (PASSED|FAILED|ERROR)", line):
                    done += 1
                    if progress is not None:
                        what = f"{done} test{'s' * (done != 1)} done, last: {match[1]} {match[2]}"
                        progress.update(Markdown(f"checking step {n:02d}… {what}"))
        except KeyboardInterrupt:
            print(f"■ stopped the check of step {n:02d} (the grader is gone)")
            return
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait()  # reaped: no <defunct> grader
        tests = f"{done} test{'s' * (done != 1)}"
        if process.returncode == 0:
            verdict = Markdown(f"{PASSED} **Your step {n:02d} passes** ({tests}).")
        else:
            verdict = Markdown(f"{FAILED} **Your step {n:02d} does not pass yet.**")
        if progress is not None:
            progress.update(verdict)  # the progress line becomes the verdict: one line
        else:
            display(verdict)
        if process.returncode != 0:
            display(Code("\n".join(failure_summary(lines)), language="text"))


def in_words(test: str) -> str:
    """test_unusable_line_is_one_clear_line[sim] -> "unusable line is one clear line (sim)"."""
    name, _, param = test.partition("[")
    words = name.removeprefix("test_").replace("_", " ")
    return f"{words} ({param.rstrip(']')})" if param else words


def failure_summary(lines: list[str]) -> list[str]:
    """The grader's verdict without pytest's tracebacks: why it failed (in words) first,
    what it saw, and the hint (tools/grade.py's last lines)."""
    summary = next((i for i, line in enumerate(lines) if "short test summary" in line), None)
    if summary is None:  # not even pytest's summary: the grader itself failed to run
        return lines
    errors = [line[1:].strip() for line in lines[:summary] if line.startswith("E ")]
    failed = [line for line in lines[summary:] if line.startswith(("FAILED ", "ERROR "))]
    said = [line for line in lines[summary:] if line.startswith("why:")]  # make check-N's
    said += [e for e in errors if e.startswith("why:") or e.startswith("AssertionError: why:")]
    if said:  # the grader's own why
        why = said[0].removeprefix("AssertionError: ")
    elif asserted := [e for e in errors if e.startswith("AssertionError: ")]:
        why = f"why: {asserted[0].removeprefix('AssertionError: ')}"
    else:  # an exception in a test: which test, and what was raised
        test = re.search(r"::(\S+)", failed[0])[1] if failed else "a test"  # type: ignore[index]
        raised = next((e for e in errors if re.match(r"\w+(Error|Exception)\b", e)), "")
        why = f"why: the grader's test «{in_words(test)}» failed"
        why += f": {raised}" if raised else ""
    why_first = why if len(why) < 300 else why[:300] + "…"
    hint = next((i for i, line in enumerate(lines) if "does not pass yet. Hint:" in line), None)
    shown_errors = [e for e in errors[:8] if why.removeprefix("why: ") not in e]
    after = [line for line in lines[hint:] if line != why] if hint is not None else []
    return [why_first, *shown_errors, *failed, *after]


def empty_functions(text: str, todos: dict[str, str]) -> str:
    """text with the bodies of the top-level functions named in todos replaced by a TODO
    that says what the body does; each keeps its signature and docstring."""
    lines = text.splitlines()
    functions = [
        node
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in todos
    ]
    missing = set(todos) - {node.name for node in functions}
    if missing:
        raise LookupError(f"no function {', '.join(sorted(missing))} to empty")
    for node in sorted(functions, key=lambda node: node.lineno, reverse=True):
        first = node.body[0].lineno
        if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            first = node.body[0].end_lineno + 1 if len(node.body) > 1 else first  # keep docstring
        indent = " " * node.body[0].col_offset
        prefix = f"{indent}# "
        todo = textwrap.wrap(
            f"TODO (exercise): {todos[node.name]}",
            88,
            initial_indent=prefix,
            subsequent_indent=prefix,
            break_on_hyphens=False,
        )
        todo.append(f"{indent}...")
        lines[first - 1 : node.end_lineno] = todo
    return "\n".join(lines) + "\n"


def exercise(n: int) -> Exercise:
    """Set up the exercise for step n (once) and say what to do."""
    exercise = Exercise(n)
    exercise.prepare()
    exercise.introduce()
    return exercise
