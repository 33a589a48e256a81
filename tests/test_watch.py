"""make watch (attendees, rustlings-style), driven through a real tmux with real files.

The attendee's saves are real file writes into my_steps/; the keys go in with
tmux send-keys; every check is on what the screen shows or what is on disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.test_live import GRADED, descendants
from tests.tmux_server import Tmux, needs_tmux
from tools import changes, table
from tools.live import alive

pytestmark = needs_tmux()
TOTAL = len(table.load())
ATTENDEE = "=attendee:"  # the attendee's terminal: the session's current pane


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Tmux]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    tmux = Tmux({**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    try:
        yield tmux
    finally:
        tmux.kill()


def watch(tmux: Tmux, mine: Path, *make_args: str) -> int:
    """make watch in a terminal of its own; returns the pid of tools.watch."""
    command = f"make --no-print-directory watch MY_STEPS={mine} {' '.join(make_args)}"
    tmux("kill-session", "-t", "=attendee")
    tmux("new-session", "-d", "-s", "attendee", "-x", "120", "-y", "45",
         f"cd {table.ROOT} && {command}; echo watch-ended-$?; sleep 300")  # fmt: skip
    shell = int(tmux("list-panes", "-t", ATTENDEE, "-F", "#{pane_pid}"))

    def program() -> int:
        for pid in descendants(shell):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:  # ended meanwhile (make's own helpers)
                continue
            if b"tools.watch" in cmdline:
                return pid
        return 0

    wait_until(lambda: bool(program()), "tools.watch to start", 60)
    return program()


def quit_watch(tmux: Tmux, pid: int) -> None:
    everything = {pid} | descendants(pid)
    tmux("send-keys", "-t", ATTENDEE, "q")
    tmux.wait_for(ATTENDEE, "watch-ended-0", 30)
    wait_until(lambda: not any(alive(p) for p in everything), "nothing left running", 30)


def test_first_run_pass_next_reset_and_restart(terminal: Tmux, tmp_path: Path) -> None:
    tmux, mine = terminal, tmp_path / "my_steps"
    two, three = table.get(2), table.get(3)
    pid = watch(tmux, mine)

    # first run: step 01 solved, step 02 to do (a copy of step 01), progress 1/N
    shown = tmux.wait_for(ATTENDEE, f"step 2 of {TOTAL}: {two.title}", 30)
    assert f"progress 1/{TOTAL}" in shown
    assert f"edit {mine / two.dir / 'receiver.py'}" in shown
    assert (mine / two.dir / "receiver.py").read_text() == (
        table.get(1).folder() / "receiver.py"
    ).read_text()
    tmux.wait_for(ATTENDEE, "step 2 does not pass yet", GRADED)

    # n is refused before the step passes
    tmux("send-keys", "-t", ATTENDEE, "n")
    tmux.wait_for(ATTENDEE, "n: step 02 does not pass yet", 10)
    assert not (mine / three.dir).exists()

    # h shows the step's hint
    tmux("send-keys", "-t", ATTENDEE, "h")
    tmux.wait_for(ATTENDEE, "threading.Thread(target=receive", 10)

    # saving the finished step (with the attendee's own touch) passes
    own = (two.folder() / "receiver.py").read_text() + "\n# my own comment\n"
    (mine / two.dir / "receiver.py").write_text(own)
    shown = tmux.wait_for(ATTENDEE, "step 2 passes!", GRADED)
    assert f"progress 2/{TOTAL}" in shown

    # n: step 03 starts as the attendee's own step 02, comment and all
    tmux("send-keys", "-t", ATTENDEE, "n")
    tmux.wait_for(ATTENDEE, f"step 3 of {TOTAL}: {three.title}", 30)
    tmux.wait_for(ATTENDEE, "step 03 starts as your step 02", 10)
    assert (mine / three.dir / "receiver.py").read_text() == own
    tmux.wait_for(ATTENDEE, "step 3 does not pass yet", GRADED)

    # a syntax error is one line; r puts the step back to its start, keeping the broken one aside
    (mine / three.dir / "receiver.py").write_text(own + "\ndef broken(:\n")
    tmux.wait_for(ATTENDEE, "SyntaxError", 30)
    tmux("send-keys", "-t", ATTENDEE, "r")
    tmux.wait_for(ATTENDEE, "step 03 is back at its start", 30)
    assert (mine / three.dir / "receiver.py").read_text() == own
    backups = list((mine / ".backup").glob(f"{three.dir}-*/receiver.py"))
    assert len(backups) == 1 and "def broken(:" in backups[0].read_text()
    tmux.wait_for(ATTENDEE, "step 3 does not pass yet", GRADED)

    # l lists the steps with their state
    tmux("send-keys", "-t", ATTENDEE, "l")
    shown = tmux.wait_for(ATTENDEE, "the steps", 10)
    assert "given" in shown and "done" in shown and "to do" in shown and "not started" in shown

    # q: nothing left running; the state survives a restart, with the right progress
    quit_watch(tmux, pid)
    state = json.loads((mine / ".watch.json").read_text())
    assert state["current"] == 3 and state["done"] == [1, 2]
    pid = watch(tmux, mine, "POLL=1")
    shown = tmux.wait_for(ATTENDEE, f"step 3 of {TOTAL}: {three.title}", 30)
    assert f"progress 2/{TOTAL}" in shown and "saves: polling (POLL=1)" in shown
    tmux.wait_for(ATTENDEE, "step 3 does not pass yet", GRADED)

    # polling sees saves too
    (mine / three.dir / "receiver.py").write_text((three.folder() / "receiver.py").read_text())
    shown = tmux.wait_for(ATTENDEE, "step 3 passes!", GRADED)
    assert f"progress 3/{TOTAL}" in shown
    quit_watch(tmux, pid)


def test_start_anywhere(terminal: Tmux, tmp_path: Path) -> None:
    tmux, mine = terminal, tmp_path / "my_steps"
    four = table.get(4)
    pid = watch(tmux, mine, "N=4")
    shown = tmux.wait_for(ATTENDEE, f"step 4 of {TOTAL}: {four.title}", 30)
    assert f"made {mine / four.dir}: step 03 solved, step 04 to do" in shown
    assert sorted(path.name for path in mine.iterdir() if not path.name.startswith(".")) == [
        table.get(3).dir,
        four.dir,
    ]
    quit_watch(tmux, pid)


def test_polling_where_inotify_would_see_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLL", "0")
    assert changes.file_system(Path("/proc/self")) == "proc"  # read from the real mount table
    kind = changes.file_system(tmp_path)
    assert kind, "no file system found for the test's folder"
    shared = kind in changes.SHARED
    assert changes.choose(tmp_path) == (
        shared,
        f"polling ({changes.SHARED[kind]})" if shared else "inotify",
    )
    monkeypatch.setenv("POLL", "1")
    assert changes.choose(tmp_path) == (True, "polling (POLL=1)")
