"""A real unprivileged account: in a clone of its own, and in a shared read-only checkout.

The test setup makes the user `incoming-student` (root only; elsewhere these tests are
skipped). A classroom machine or a JupyterHub shares one checkout that belongs to root, with
root's venv (here build/shared-venv, from `make nonroot-setup`): there the student's runs
must work all the same, write only into the student's own folders and say where, and the
checkout must stay untouched. Without a venv, `make` says in one line what to do instead of
pip's "Permission denied".
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools import other_users, table

pytestmark = pytest.mark.slow

USER = "incoming-student"
# "root's venv" for the shared checkout, made by `make nonroot-setup` with Debian's python3:
# the venv running these tests may sit on a Python only root can reach (pyenv's, in /root).
# The student gets it through other_users.stage: this checkout may sit in a folder only
# root enters (a mktemp -d folder, /root), and then the student uses a copy in /tmp.
BUILT_VENV = table.ROOT / "build" / "shared-venv"
STEPS = table.load()
PLOTTING = [step for step in STEPS if "display" in step.needs and step.client]


@dataclass(frozen=True)
class Student:
    name: str
    uid: int
    home: Path

    def run(
        self, argv: list[str], cwd: Path, timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """argv as the student, with a login-like environment (no root's leftovers)."""
        clean = {"HOME": str(self.home), "USER": self.name, "LANG": "C.UTF-8"}
        clean["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        command = ["runuser", "-u", self.name, "--", "env", "-i"]
        command += [f"{key}={value}" for key, value in {**clean, **env}.items()]
        return subprocess.run(
            [*command, *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout
        )


def checkout_files() -> list[str]:
    """The working tree's files as git sees them (tracked, and new but not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=table.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [name for name in listed.stdout.split("\0") if name and (table.ROOT / name).exists()]


def snapshot(folder: Path) -> dict[str, tuple[int, float]]:
    """Every path under folder (not following the venv link) with its size and mtime."""
    found = {}
    for path in folder.rglob("*"):
        if ".venv" in path.parts:
            continue
        info = path.lstat()
        found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime)
    return found


@pytest.fixture(scope="module")
def student() -> Student:
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("making a test user needs Linux, root and useradd")
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
        entry = pwd.getpwnam(USER)
    if not (BUILT_VENV / ".installed").exists():
        pytest.skip(f"no shared venv at {BUILT_VENV}: run make nonroot-setup (root)")
    return Student(USER, entry.pw_uid, Path(entry.pw_dir))


@pytest.fixture(scope="module")
def venv(student: Student) -> Path:
    """Root's venv, where the student can reach it."""
    return other_users.stage(BUILT_VENV)


@pytest.fixture(scope="module")
def shared(student: Student, venv: Path) -> Iterator[Path]:
    """A root-owned copy of this checkout (mode 755), with root's venv as its .venv."""
    base = Path(tempfile.mkdtemp(prefix="incoming-shared-"))
    base.chmod(0o755)
    checkout = base / "incoming"
    for name in checkout_files():
        target = checkout / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(table.ROOT / name, target)  # mtimes kept: the venv's stamp stays newer
    (checkout / ".venv").symlink_to(venv)
    subprocess.run(["chmod", "-R", "go-w", str(base)], check=True)
    yield checkout
    shutil.rmtree(base)


@pytest.fixture(scope="module")
def own_clone(student: Student, shared: Path) -> Iterator[Path]:
    """The student's own copy in their home, made by the student."""
    clone = student.home / "incoming"
    shutil.rmtree(clone, ignore_errors=True)
    copy = ["cp", "-r", "--preserve=timestamps", str(shared), str(clone)]  # the venv stays current
    done = student.run(copy, cwd=student.home)
    assert done.returncode == 0, done.stderr
    (clone / ".venv").unlink()  # the link to root's venv: VENV= below says which one
    yield clone
    shutil.rmtree(clone, ignore_errors=True)


@pytest.fixture
def untouched(shared: Path) -> Iterator[None]:
    before = snapshot(shared)
    yield
    after = snapshot(shared)
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"the shared checkout changed: {changed[:10]}"


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{done.stderr}"
    return lines[0]


@pytest.mark.parametrize("target", ["setup", "check-1", "step-1"])
def test_without_a_venv_make_says_what_to_do_in_one_line(
    student: Student, shared: Path, untouched: None, target: str
) -> None:
    done = student.run(["make", target, "VENV=.venv-of-nobody"], cwd=shared)
    line = one_line_error(done)
    assert "cannot be created" in line and "export VENV=" in line, line


@pytest.mark.parametrize("step", STEPS, ids=lambda step: f"check-{step.n}")
def test_graders_pass_in_the_shared_checkout(
    student: Student, shared: Path, untouched: None, step: table.Step
) -> None:
    done = student.run(["make", f"check-{step.n}"], cwd=shared)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "cache" not in output.lower(), f"a warning about .pytest_cache:\n{output[-2000:]}"


@pytest.mark.parametrize("step", STEPS, ids=lambda step: f"check-{step.n}")
def test_graders_pass_in_an_own_clone(
    student: Student, venv: Path, own_clone: Path, step: table.Step
) -> None:
    done = student.run(["make", f"check-{step.n}", f"VENV={venv}"], cwd=own_clone)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


@pytest.mark.parametrize("target", ["demo", f"step-{PLOTTING[-1].n}"])
def test_pictures_go_to_the_students_folder_and_it_says_where(
    student: Student, shared: Path, untouched: None, target: str
) -> None:
    mine = student.home / ".cache" / "incoming" / "run"
    shutil.rmtree(mine, ignore_errors=True)
    done = student.run(["make", target, "DURATION=4"], cwd=shared, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in output, output[-3000:]
    assert f"writing to {mine} instead" in done.stderr, done.stderr
    pictures = list(mine.glob("plot-step-*.png"))
    assert pictures and pictures[0].read_bytes()[:4] == b"\x89PNG", output[-2000:]


def test_make_bus_works_from_the_shared_checkout(
    student: Student, shared: Path, untouched: None
) -> None:
    started = student.run(["make", "-s", "bus"], cwd=shared)
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout.startswith("export DBUS_SESSION_BUS_ADDRESS="), started.stdout
        assert f"/tmp/incoming-{student.uid}/incoming-bus/" in started.stdout, started.stdout
        called = student.run(["make", "-s", "bus"], cwd=shared)  # the same one, found again
        assert called.stdout == started.stdout
    finally:
        stopped = student.run(["make", "-s", "bus-stop"], cwd=shared)
    assert stopped.returncode == 0 and "stopped" in stopped.stderr, stopped.stderr


def test_the_notebooks_exercise_copy_goes_to_the_students_home(
    student: Student, venv: Path, shared: Path, untouched: None
) -> None:
    mine = student.home / "incoming-my_steps"
    shutil.rmtree(mine, ignore_errors=True)
    code = "import talk; e = talk.Exercise(3); e.prepare(); print(e.folder)"
    done = student.run([str(venv / "bin" / "python"), "-c", code], cwd=shared / "notebooks")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(mine / STEPS[2].dir)
    assert (mine / STEPS[2].dir / "receiver.py").is_file()
    shutil.rmtree(mine, ignore_errors=True)


def test_a_missing_runtime_dir_falls_back(student: Student, shared: Path, untouched: None) -> None:
    """$XDG_RUNTIME_DIR naming a folder that is not there (no logind session)."""
    gone = f"/run/user/{student.uid}-gone"
    done = student.run(["make", "step-1", "DURATION=3"], cwd=shared, XDG_RUNTIME_DIR=gone)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in output, output[-2000:]
    assert f"listening on /tmp/incoming-{student.uid}/incoming" in output, output[-2000:]
