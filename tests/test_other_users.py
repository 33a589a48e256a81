"""tools/other_users.py: another user runs what lies in a folder only root may enter.

Real users and real permissions: the files are read by `nobody` through setpriv (root only).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import other_users

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)


@pytest.fixture
def private_step() -> Iterator[Path]:
    """A step-like folder (mode 755, its file 644) inside a folder of mode 700."""
    private = Path(tempfile.mkdtemp(prefix="incoming-private-"))  # mkdtemp: mode 700
    step = private / "step"
    step.mkdir(mode=0o755)
    (step / "hello.py").write_text("import sys\nprint('hello from', sys.argv[0])\n")
    (step / "hello.py").chmod(0o644)
    yield step
    shutil.rmtree(private)


def as_nobody(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [*NOBODY, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    return done.stdout + done.stderr


def test_a_folder_only_root_enters_is_staged_where_others_can_read_it(private_step: Path) -> None:
    python, env = other_users.python_for_everyone()
    said = as_nobody([python, "hello.py"], private_step, {**os.environ, **env})
    assert "Permission denied" in said, said  # why staging is needed at all
    staged = other_users.stage(private_step)
    assert staged != private_step and other_users.searchable(staged), staged
    said = as_nobody([python, "hello.py"], staged, {**os.environ, **env})
    assert said == "hello from hello.py\n", said
    assert other_users.stage(private_step) == staged  # once per process


def test_a_folder_everyone_reaches_is_used_where_it_is() -> None:
    folder = Path(tempfile.mkdtemp(prefix="incoming-open-", dir=other_users.temp_base()))
    try:
        folder.chmod(0o755)
        assert other_users.stage(folder) == folder.resolve()
    finally:
        shutil.rmtree(folder)


def test_this_venvs_packages_are_importable_by_nobody() -> None:
    python, env = other_users.python_for_everyone()
    said = as_nobody([python, "-c", "import sdbus; print('ok')"], Path("/"), {**os.environ, **env})
    assert said == "ok\n", said
