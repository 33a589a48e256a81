"""The attendees' notebooks (notebooks/) as committed: clean, paired with their .py, numbered,
one chapter per step, on the venv's kernel "incoming". Running them: test_notebooks_run.py
(headless), test_notebooks_kernel.py (one kernel, cell by cell), test_notebooks_lab.py
(JupyterLab's server), test_notebooks_browser.py (JupyterLab in Chromium).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager

from tests.notebook_kernel import (
    KERNEL,
    NOTEBOOKS,
    PAIRED,
    Kernel,
)
from tools import table


def test_the_kernel_is_the_venv() -> None:
    spec = KernelSpecManager().get_kernel_spec(KERNEL)  # make setup registered it
    assert Path(spec.argv[0]).resolve().parent == Path(sys.executable).resolve().parent, spec.argv


def test_every_step_has_a_chapter() -> None:
    covered = {
        int(n)
        for notebook in PAIRED
        for n in re.findall(r"talk\.intro\((\d+)\)", notebook.with_suffix(".py").read_text())
    }
    steps = {step.n for step in table.load()}
    assert steps <= covered, f"steps without a notebook chapter: {sorted(steps - covered)}"
    names = [notebook.stem for notebook in PAIRED]
    assert names == sorted(names), "notebooks are numbered in step order"


@pytest.mark.parametrize("notebook", PAIRED, ids=[p.stem for p in PAIRED])
def test_committed_without_outputs(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    dirty = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{notebook.name}: cells {dirty} have outputs (clear them before committing)"
    assert nb.metadata.kernelspec.name == KERNEL


def test_the_notebooks_say_what_the_kernel_reports(kernel_env: dict[str, str]) -> None:
    """JupyterLab writes the kernel's language_info into an opened notebook: committed the
    same (the kernel leaves Python's version out: mk/notebooks.mk), opening changes nothing,
    and closing an untouched notebook does not ask to save (the browser test sees it)."""
    kernel = Kernel(kernel_env)
    try:
        reported = kernel.client.kernel_info(reply=True)["content"]["language_info"]
    finally:
        kernel.stop()
    assert "version" not in reported, f"the kernel reports Python's version: {reported}"
    for notebook in PAIRED:
        committed = nbformat.read(notebook, as_version=4).metadata.get("language_info")
        assert committed == reported, f"{notebook.name}: {committed} != {reported}"


@pytest.mark.parametrize("notebook", PAIRED, ids=[p.stem for p in PAIRED])
def test_paired_py_is_in_sync(notebook: Path) -> None:
    pair = notebook.with_suffix(".py")
    assert pair.exists(), f"{notebook.name} has no paired {pair.name}: make notebooks-sync"
    text = jupytext.writes(jupytext.read(notebook), fmt="py:percent")
    assert text == pair.read_text(), f"{notebook.name} and {pair.name} differ: make notebooks-sync"


def test_every_py_has_its_notebook() -> None:
    orphans = [
        p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.py") if not p.with_suffix(".ipynb").exists()
    ]
    assert not orphans, f"paired .py files without a notebook: {orphans}"


@pytest.mark.parametrize("notebook", PAIRED, ids=[p.stem for p in PAIRED])
def test_heading_number_is_the_file_number(notebook: Path) -> None:
    """One numbering: a notebook's heading starts with its file's number (its first step)."""
    heading = jupytext.read(notebook).cells[0].source.splitlines()[0]
    number = int(notebook.stem[:2])
    assert re.match(rf"# {number}\. ", heading), f"{notebook.name} is headed {heading!r}"
