"""Step 11's grader works on a steps folder other users cannot enter (issue 21, item 5).

`~/my_steps` as root is 0700: the service's user could not read the step there. The
grader stages what that user runs in a folder it can read; this proves it on a 0700
copy, with the live system-bus test (root only: it makes users and a private bus).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import table


def test_step_11_grades_from_a_private_folder(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the system-bus tests of step 11 need root")
    private = tmp_path / "my_steps"
    private.mkdir(mode=0o700)
    step = table.get(11)
    shutil.copytree(step.folder(), private / step.dir, ignore=shutil.ignore_patterns("__pycache__"))
    (private / step.dir).chmod(0o700)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         "tests/graders/test_step11.py", f"--steps={private}", "-k", "policy_on_a_system_like"],
        cwd=table.ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert "Permission denied" not in result.stdout, result.stdout[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0 and "1 passed" in last, result.stdout  # run, not skipped
