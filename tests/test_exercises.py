"""The exercises' words against the finished steps: hints (steps/steps.toml, shared with
`make check-N` and `make watch`), TODOs in the skeletons, the notebooks' exercise texts,
and the files an exercise names; then each exercise solved with only those files passes.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from tests.exercise_text import Finished, calls_in, problems
from tools import table

NOTEBOOKS = table.ROOT / "notebooks"
if str(NOTEBOOKS) not in sys.path:
    sys.path.insert(0, str(NOTEBOOKS))

import exercises  # noqa: E402

STEPS = table.load()
IN_NOTEBOOKS = sorted(
    {
        int(n)
        for notebook in NOTEBOOKS.glob("[0-9][0-9]_*.py")
        for n in re.findall(r"talk\.exercise\((\d+)\)", notebook.read_text())
    }
)


def finished(n: int) -> Finished:
    return Finished.read(exercises.folder(n))


def test_the_checker_catches_what_drifted_before() -> None:
    """The texts of issue 23, as they were: each is caught."""
    two = problems("threading.Thread(target=receive, args=(sock,))", finished(2))
    assert two and "takes 2..2, not 1" in two[0], two
    receive = finished(1).functions["receive"]
    one = problems("bind() the socket, dgram.bind(path)", finished(1), body=calls_in(receive))
    assert any("not what this function's finished body does" in p for p in one), one
    assert problems("`Recent2()`", finished(9)), "a name no step has"


@pytest.mark.parametrize("step", STEPS, ids=lambda s: f"step{s.n:02d}")
def test_every_call_a_hint_names_is_in_the_finished_step(step: table.Step) -> None:
    found = problems(step.hint, finished(step.n))
    assert not found, f"steps.toml, step {step.n}'s hint: {found}"


@pytest.mark.parametrize("n", sorted(exercises.EXERCISES))
def test_a_todo_names_only_what_its_function_does(n: int) -> None:
    """A skeleton's TODO describes the emptied body, not the code around it (01's receive()
    once said "bind() the socket" while main() binds it)."""
    done = finished(n)
    for file, todos in exercises.EXERCISES[n].skeleton.items():
        tree = ast.parse((exercises.folder(n) / file).read_text())
        defined = {
            node.name: node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        for name, todo in todos.items():
            assert name in defined, f"step {n}'s {file} has no {name}()"
            found = problems(todo, done, body=calls_in(defined[name]))
            assert not found, f"step {n}, {file}, the TODO of {name}(): {found}"


@pytest.mark.parametrize("n", IN_NOTEBOOKS)
def test_an_exercise_names_every_file_its_step_changes(n: int, tmp_path: Path) -> None:
    exercise = exercises.Exercise(n)
    exercise.folder = tmp_path / exercise.step.dir
    changed = exercises.changed_files(n)
    start = exercise.start
    assert set(start.given) <= set(changed), f"given files step {n} does not change"
    assert set(start.skeleton) <= set(exercise.files), "a skeleton is a file to work on"
    assert exercise.files, f"step {n}'s exercise has nothing to do"
    assert sorted([*start.given, *exercise.files]) == changed
    exercise.prepare()
    for file in exercise.files:  # a file to work on is not already the finished one
        mine = exercise.folder / file
        assert not mine.exists() or mine.read_bytes() != (exercises.folder(n) / file).read_bytes()
    for file in start.skeleton:
        ast.parse((exercise.folder / file).read_text())  # a skeleton is valid Python


def exercise_texts() -> list[tuple[str, int, str]]:
    """(notebook, n, the markdown before `talk.exercise(n)`) for every notebook exercise."""
    found = []
    for notebook in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        cells = jupytext.read(notebook).cells
        for i, cell in enumerate(cells):
            if match := re.search(r"talk\.exercise\((\d+)\)", cell.source):
                text = next(c.source for c in reversed(cells[:i]) if c.cell_type == "markdown")
                found.append((notebook.stem, int(match[1]), text))
    return found


@pytest.mark.parametrize("name, n, text", exercise_texts(), ids=lambda v: str(v)[:16])
def test_a_notebooks_exercise_text_names_what_the_step_has(name: str, n: int, text: str) -> None:
    found = problems(text, finished(n))
    assert not found, f"{name}'s exercise text: {found}"
    named = set(re.findall(r"`([\w.]+\.py)`", text))
    changed = set(exercises.changed_files(n))
    assert named <= changed | set(exercises.changed_files(max(n - 1, 1))) | {"receiver.py"}, named


def grade(n: int, steps: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tools.grade", str(n), "--steps", str(steps), "-x"]
    command += ["-p", "no:cacheprovider"]
    return subprocess.run(
        command, cwd=table.ROOT, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.mark.slow
@pytest.mark.parametrize("n", IN_NOTEBOOKS)
def test_solved_with_only_the_files_it_names_the_exercise_passes(n: int, tmp_path: Path) -> None:
    """The grader asks for nothing the exercise does not give or name (05 once needed can.py
    and --can, which its text never asked for)."""
    exercise = exercises.Exercise(n)
    exercise.folder = tmp_path / exercise.step.dir
    exercise.prepare()
    exercise.solve()
    result = grade(n, tmp_path)
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
    assert result.returncode == 0, f"step {n}, solved with {exercise.files}:\n{tail}"
