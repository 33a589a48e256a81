"""The Makefile's targets, typed as a presenter or an attendee types them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import wait_until
from tests.tmux_server import Tmux, needs_tmux
from tools import table

STEPS = table.load()


def make(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=table.ROOT,
        env={**(env or os.environ), "TERM": "dumb"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"make {' '.join(args)}: {result.returncode}\n{result.stderr}"
    return result.stdout


def test_help_lists_every_target_with_one_line() -> None:
    output = make("help")
    makefiles = [table.ROOT / "Makefile", *sorted((table.ROOT / "mk").glob("*.mk"))]
    targets = set()
    for makefile in makefiles:
        targets |= set(re.findall(r"^([a-zA-Z0-9_%-]+):.*## ", makefile.read_text(), re.M))
    for target in targets:
        assert re.search(rf"^  make {re.escape(target)}\s+\S", output, re.M), target
    for needed in ("setup", "step-%", "diff-%", "strace-%", "check-%", "test", "demo", "bus"):
        assert needed in targets


def sockets_in(folder: Path) -> list[Path]:
    """The socket files under folder (dbus-daemon adds a dbus-1/ folder of its own: not one)."""
    return [path for path in folder.rglob("*") if path.is_socket()]


@pytest.mark.parametrize("step", STEPS, ids=[f"step-{s.n}" for s in STEPS])
def test_step_target_shows_the_feeders_data(step: table.Step, tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"  # as logind makes it: the receivers' sockets go there
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "DURATION": "4"}
    env.pop("DISPLAY", None)
    output = make(f"step-{step.n}", env=env)
    assert f"step {step.n}: {step.title}" in output
    for name in step.sockets:  # the feeder's data came through the receiver
        assert re.search(rf"^\s*receiver \| {re.escape(name)}: \S", output, re.M), output
    if step.client:
        assert re.search(r"^\s*client \| ", output, re.M), output
    assert not sockets_in(runtime), "socket files left behind"


@pytest.mark.parametrize("step", STEPS, ids=[f"diff-{s.n}" for s in STEPS])
def test_diff_target_shows_what_the_step_adds(step: table.Step) -> None:
    output = make(f"diff-{step.n}")
    assert output.startswith(f"# step {step.label}: ")
    assert f"+++ steps/{step.dir}/" in output
    if step.n > 1:
        previous = table.get(step.n - 1)
        assert f"--- steps/{previous.dir}/" in output
        for line in output.splitlines():  # unchanged files are byte-identical: never listed
            if line.startswith("diff -ruN"):
                old, new = (Path(table.ROOT, path) for path in line.split()[-2:])
                assert not old.exists() or old.read_bytes() != new.read_bytes(), new


def test_check_target_grades_an_attendees_folder(tmp_path: Path) -> None:
    mine = tmp_path / "my_steps"
    shutil.copytree(table.get(3).folder(), mine / table.get(3).dir)
    output = make("check-3", f"STEPS={mine}")
    assert f"grading step 03 An event loop in {mine}" in output
    assert "step 3 passes" in output


def test_check_target_gives_the_hint_when_a_step_fails(tmp_path: Path) -> None:
    mine = tmp_path / "my_steps"
    shutil.copytree(table.get(2).folder(), mine / table.get(4).dir)  # threads, not tasks
    result = subprocess.run(
        ["make", "--no-print-directory", "check-4", f"STEPS={mine}"],
        cwd=table.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "INCOMING_TEST_TIMEOUT": "4"},
    )
    assert result.returncode != 0
    assert "step 4 does not pass yet. Hint:" in result.stdout
    assert "asyncio.create_task" in result.stdout


def test_bus_and_bus_stop() -> None:
    output = make("bus")
    address = re.fullmatch(r"export DBUS_SESSION_BUS_ADDRESS='(unix:path=[^']+)'\n", output)
    assert address, output
    try:
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address.group(1)}
        listed = subprocess.run(["busctl", "--user", "list"], env=env, capture_output=True)
        assert listed.returncode == 0, listed.stderr
        assert make("bus") == output  # idempotent: the same bus
    finally:
        make("bus-stop")
    assert subprocess.run(["busctl", "--user", "list"], env=env, capture_output=True).returncode


def test_demo_without_a_display_writes_the_plot(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DURATION": "4"}
    env.pop("DISPLAY", None)
    output = make("demo", env=env)
    written = re.search(r"client \| wrote (\S+\.png)$", output, re.M)
    assert written, output
    with Image.open(written.group(1)) as picture:
        assert picture.format == "PNG" and min(picture.size) > 200


@needs_tmux()
def test_step_target_on_a_terminal_opens_tmux_panes(tmp_path: Path) -> None:
    """On stage: `make step-4` in a terminal; type into the sender pane; Ctrl-b d ends it all."""
    runtime = tmp_path / "runtime"  # as logind makes it: the receivers' sockets go there
    runtime.mkdir(mode=0o700)
    tmux = Tmux({**os.environ, "XDG_RUNTIME_DIR": str(runtime)})  # a tmux server of our own

    def pane(n: int) -> str:
        return tmux.capture(f"incoming-step-4.{n}", history=True)

    # a terminal of its own, as on stage (tmux sets $TMUX in its panes: not inside tmux here)
    make_step = "env -u TMUX make --no-print-directory step-4"
    terminal = f"cd {table.ROOT} && {make_step}; echo make-ended-$?; sleep 300"
    tmux("new-session", "-d", "-s", "presenter", "-x", "160", "-y", "48", terminal)
    try:
        wait_until(lambda: "message (utf-8 please):" in pane(1), "the sender's prompt")
        wait_until(lambda: re.search(r"^sine: ", pane(0), re.M) is not None, "the feeder's data")
        tmux("send-keys", "-t", "incoming-step-4.1", "typed on stage", "Enter")
        wait_until(lambda: "load: typed on stage" in pane(0), "the typed line in the receiver")
        tmux("detach-client", "-s", "incoming-step-4")
        wait_until(lambda: "make-ended-0" in tmux.capture("presenter"),
                   "make to end after Ctrl-b d")  # fmt: skip
        assert "incoming-step-4" not in tmux("list-sessions")
        wait_until(lambda: not sockets_in(runtime), "the socket files to go")
    finally:
        tmux.kill()  # the private server: never the developer's
