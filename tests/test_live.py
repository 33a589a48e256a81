"""make live-N (the presenter) and make step-N inside tmux, driven through a real tmux.

Each test has a tmux server of its own (tests/tmux_server.py); the presenter's
keys go through an attached tmux client, as on stage; the editor's saves are real
file writes into live/, as an editor's are. Waits are on what the panes show.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.tmux_server import Tmux, needs_tmux
from tools import ideas, table, typed
from tools.live import alive, fit
from tools.live_pane import Condenser

pytestmark = needs_tmux()
GRADED = 240.0  # seconds a grader run may take on a busy machine (never hit when it works)
STEP = table.get(3)  # no bus, a quick grader, one idea


def descendants(pid: int) -> set[int]:
    """pid's children, their children, ... (from /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child} | descendants(child)
    return found


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[tuple[Tmux, Path, Path]]:
    """A presenter's terminal (a tmux of our own), live/ and the runtime folder in tmp_path."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    live = tmp_path / "live"
    editor = "vim -n" if shutil.which("vim") else "cat"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "INCOMING_LIVE": str(live)}
    tmux = Tmux({**env, "EDITOR": editor})
    try:
        yield tmux, live, runtime
    finally:
        tmux.kill()


def program_pids(tmux: Tmux, window: str) -> set[int]:
    """Every process of a live window: the runner, the pane supervisors, what they started."""
    runner = int(tmux("show-options", "-w", "-v", "-t", window, "@incoming_live"))
    panes = {int(pid) for pid in tmux("list-panes", "-t", window, "-F", "#{pane_pid}").split()}
    pids = {runner} | panes
    for pid in list(pids):
        pids |= descendants(pid)
    return pids


def test_live_save_grade_syntax_error_swap_and_detach(stage: tuple[Tmux, Path, Path]) -> None:
    tmux, live, runtime = stage
    mine = live / STEP.dir / "receiver.py"
    finished = (STEP.folder() / "receiver.py").read_text()
    # make runs without DISPLAY; the tmux session has one (a re-attach from a desktop)
    command = f"cd {table.ROOT} && env -u TMUX -u DISPLAY make --no-print-directory live-{STEP.n}"
    tmux("new-session", "-d", "-s", "presenter", "-x", "120", "-y", "35",
         f"{command}; echo make-ended-$?; sleep 300")  # fmt: skip
    tmux("set-environment", "-t", "presenter", "DISPLAY", ":77")
    tmux("set-environment", "-g", "DISPLAY", ":77")
    status = tmux.pane(f"step {STEP.n}: status", 60)
    receiver = tmux.pane("receiver", 10)
    editor = tmux.pane("editor", 10)
    assert mine.read_text() == typed.without(STEP, typed.cuts(STEP))["receiver.py"]

    # the projector's 120x35: 88-column code fits the editor without wrapping
    assert int(tmux("display-message", "-p", "-t", editor, "#{pane_width}")) >= 88
    # every pane has make's environment, not the session's DISPLAY
    for pane in (receiver, editor):
        pid = int(tmux("display-message", "-p", "-t", pane, "#{pane_pid}"))
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert not any(item.startswith(b"DISPLAY=") for item in environ), pane

    # the starting copy is step 03 without its idea: the idea does not work yet, the basics do
    shown = tmux.wait_for(status, "does not work yet", GRADED)
    assert re.search(r"✗ one thread receives on an event loop", shown), shown
    tmux.wait_for(receiver, "listening on", 30)  # it runs; no task receives yet

    # saving the finished step's file: the receiver restarts, the status turns to passed
    mine.write_text(finished)
    tmux.wait_for(receiver, "--- receiver: restarted ---", 30, history=True)
    shown = tmux.wait_for(status, f"✔ step {STEP.n} works", GRADED)
    assert "✓ one thread receives on an event loop" in shown and "✓ the basics" in shown

    # a syntax error: one line in the status and in the receiver's pane, no traceback
    mine.write_text(finished + "\ndef broken(:\n")
    error = f"receiver.py:{finished.count(chr(10)) + 2}: SyntaxError"
    shown = tmux.wait_for(status, error, 30)
    assert [line for line in shown.splitlines() if line.strip()] == [
        line for line in shown.splitlines() if error in line
    ], shown  # that one line and nothing else
    shown = tmux.wait_for(receiver, f"✗ {error}", 30)
    assert "Traceback" not in tmux.capture(receiver, history=True)

    # the next good save recovers
    mine.write_text(finished.replace("import asyncio", "import asyncio  # fixed", 1))
    tmux.wait_for(status, f"✔ step {STEP.n} works", GRADED)
    tmux.wait_for(receiver, "incoming: hello #", 30)

    # Ctrl-b S swaps in the finished step (the keys go through the attached client), and back
    mine.write_text(finished.replace("asyncio.run(main())", "main()"))  # broken on purpose
    tmux.wait_for(status, "does not work yet", GRADED)
    tmux("send-keys", "-t", "presenter", "C-b", "S")
    shown = tmux.wait_for(status, f"the FINISHED step: steps/{STEP.dir}", 30)
    tmux.wait_for(status, f"✔ step {STEP.n} works", GRADED)
    tmux("send-keys", "-t", "presenter", "C-b", "S")
    tmux.wait_for(status, f"yours: live/{STEP.dir}", 30)
    tmux.wait_for(status, "does not work yet", GRADED)

    # Ctrl-b d: make ends, and everything it started with it
    window = f"=incoming-live-{STEP.n}:"
    pids = program_pids(tmux, window)
    assert len(pids) >= 6, pids  # runner, feeder, editor, receiver, its supervisor, sender...
    tmux("send-keys", "-t", "presenter", "C-b", "d")
    tmux.wait_for("presenter", "make-ended-0", 60)
    assert f"incoming-live-{STEP.n}" not in tmux("list-sessions")
    wait_until(lambda: not any(alive(pid) for pid in pids), "every live process to end", 30)
    wait_until(lambda: not list(runtime.iterdir()), "the socket files to go", 10)
    assert mine.exists(), "live/ is kept"


def test_live_solved_inside_tmux_opens_a_window_and_q_closes_it(
    stage: tuple[Tmux, Path, Path],
) -> None:
    tmux, live, runtime = stage
    tmux("new-session", "-d", "-s", "presenter", "-x", "200", "-y", "50")
    tmux("send-keys", "-t", "presenter", f"cd {table.ROOT}", "Enter")
    typed = f"make --no-print-directory live-{STEP.n} SOLVED=1; echo make-ended-$?"
    tmux("send-keys", "-t", "presenter", typed, "Enter")
    tmux.wait_for("presenter:0", "make-ended-0", 60)  # inside tmux: it opens a window and returns
    assert f"live-{STEP.n}" in tmux("list-windows", "-t", "presenter")
    status = tmux.pane(f"step {STEP.n}: status", 30)
    shown = tmux.wait_for(status, f"✔ step {STEP.n} works", GRADED)
    assert f"the FINISHED step: steps/{STEP.dir}" in shown
    pids = program_pids(tmux, status)
    tmux("send-keys", "-t", status, "q")
    wait_until(lambda: f"live-{STEP.n}" not in tmux("list-windows", "-t", "presenter"),
               "the live window to close", 30)  # fmt: skip
    wait_until(lambda: not any(alive(pid) for pid in pids), "every live process to end", 30)
    assert "presenter" in tmux("list-sessions"), "the presenter's own session stays"
    assert not list(runtime.iterdir()), "socket files left behind"
    assert tmux("list-keys", "-T", "prefix", "S") == "", "Ctrl-b S is unbound again"


def test_live_reset_makes_a_fresh_copy(tmp_path: Path) -> None:
    env = {**os.environ, "INCOMING_LIVE": str(tmp_path / "live")}
    run = ["make", "--no-print-directory", "live-reset", f"N={STEP.n}"]
    mine = tmp_path / "live" / STEP.dir / "receiver.py"
    subprocess.run(run, cwd=table.ROOT, env=env, check=True, capture_output=True)
    mine.write_text("# my own edits\n")
    result = subprocess.run(run, cwd=table.ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert mine.read_text() == typed.without(STEP, typed.cuts(STEP))["receiver.py"]


def test_step_target_inside_tmux_opens_a_window_in_the_session(
    stage: tuple[Tmux, Path, Path],
) -> None:
    """make step-4 typed in a tmux pane: a new window there, not interleaved output."""
    tmux, live, runtime = stage
    tmux("new-session", "-d", "-s", "presenter", "-x", "200", "-y", "50")
    tmux("send-keys", "-t", "presenter", f"cd {table.ROOT}", "Enter")
    typed = "make --no-print-directory step-4; echo make-ended-$?"
    tmux("send-keys", "-t", "presenter", typed, "Enter")
    wait_until(lambda: "step-4" in tmux("list-windows", "-t", "presenter"), "the step-4 window")
    tmux.wait_for("presenter:step-4.0", "sine: ", 60)
    tmux.wait_for("presenter:step-4.1", "message (utf-8 please):", 30)
    tmux("send-keys", "-t", "presenter:step-4.1", "typed in tmux", "Enter")
    tmux.wait_for("presenter:step-4.0", "load: typed in tmux", 30, history=True)
    assert "receiver |" not in tmux.capture("presenter:0", history=True), "interleaved output"
    tmux("send-keys", "-t", "presenter:step-4.1", "C-c")  # Ctrl-C in the sender: stop
    tmux.wait_for("presenter:0", "make-ended-0", 30)
    assert "step-4" not in tmux("list-windows", "-t", "presenter")
    wait_until(lambda: not list(runtime.iterdir()), "the socket files to go", 10)


def test_nothing_is_written_into_steps(stage: tuple[Tmux, Path, Path]) -> None:
    """make step-8, then make live-8 SOLVED=1, from a make whose DISPLAY draws nothing (no
    X server there: matplotlib falls back to writing a picture) in a tmux whose session
    has no DISPLAY: every picture goes to the run folder, steps/ stays as git has it."""
    tmux, live, runtime = stage
    steps = ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "steps/"]
    before = subprocess.run(steps, cwd=table.ROOT, capture_output=True, text=True).stdout
    plain = subprocess.run(
        ["env", "-u", "TMUX", "DISPLAY=:77", "make", "--no-print-directory", "step-8",
         "DURATION=40"],  # the client writes its picture after 10 s of data
        cwd=table.ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert "client | wrote plot.png" in plain.stdout, plain.stdout  # relative: in run/
    command = (
        f"cd {table.ROOT} && env -u TMUX DISPLAY=:77 make --no-print-directory live-8 SOLVED=1"
    )
    tmux("start-server", ";", "set-environment", "-gu", "DISPLAY")
    tmux("new-session", "-d", "-s", "presenter", "-x", "120", "-y", "35",
         f"{command}; echo make-ended-$?; sleep 300")  # fmt: skip
    client = tmux.pane("client.py", 60)
    tmux.wait_for(client, "wrote plot.png", 120, history=True)  # as the plain run's
    status = tmux.pane("step 8: status", 10)
    tmux.wait_for(status, "✔ step 8 works", GRADED)
    tmux("send-keys", "-t", status, "q")
    tmux.wait_for("presenter", "make-ended-0", 60)
    after = subprocess.run(steps, cwd=table.ROOT, capture_output=True, text=True).stdout
    assert after == before, f"written into steps/:\n{after}"


# --- the pane supervisor's one-line errors, on real programs ---------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("x = 1\ndef f(:\n    pass\n", r"^✗ prog\.py:2: SyntaxError: "),
        (
            "def f():\n    return 1 / 0\n\nf()\n",
            r"^✗ prog\.py:2: ZeroDivisionError: division by zero$",
        ),
        (
            "try:\n    {}['k']\nexcept KeyError:\n    undefined_name\n",
            r"^✗ prog\.py:4: NameError: name 'undefined_name' is not defined$",
        ),
        ("import sys\nprint('plain', file=sys.stderr)\n", r"^plain$"),
    ],
    ids=["syntax", "runtime", "chained", "plain-stderr"],
)
def test_a_traceback_becomes_one_line(tmp_path: Path, source: str, expected: str) -> None:
    (tmp_path / "prog.py").write_text(textwrap.dedent(source))
    child = subprocess.Popen(
        [sys.executable, "prog.py"], cwd=tmp_path, stderr=subprocess.PIPE, text=False
    )
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        assert child.stderr is not None
        condenser = Condenser(child.stderr, tmp_path, sink)
        child.wait(timeout=30)
        condenser.thread.join(timeout=10)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in out.read_text().splitlines()]
    assert len(lines) == 1 and re.search(expected, lines[0]), lines


def test_supervisor_restarts_its_program_and_stops_it_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "step"
    folder.mkdir()
    (folder / "prog.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    active = tmp_path / "active"
    active.write_text(f"{folder}\n")
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "tools.live", "pane", "prog", str(active), "--", "prog.py"],
            cwd=table.ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )

    def starts() -> int:  # the program's own lines, not the supervisor's "--- restarted ---"
        return out.read_text().splitlines().count("started")

    try:
        wait_until(lambda: starts() == 1, "the program to start")
        first = descendants(supervisor.pid)
        supervisor.send_signal(signal.SIGUSR1)  # what a save does
        wait_until(lambda: starts() == 2, "the program to restart")
        assert first and not any(alive(pid) for pid in first), "the old program still runs"
        second = descendants(supervisor.pid)
        assert second and not second & first, (first, second)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=20) == 0
        assert not any(alive(pid) for pid in second)
    finally:
        supervisor.kill()


def test_a_failed_grading_leaves_no_program_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """make live-8 left a `client.py --save` alive after every failing grader run: whatever
    a grader's test started goes with the run, failed or not."""
    from tools import grade, ideas

    graders = tmp_path / "graders"
    graders.mkdir()
    (graders / "conftest.py").write_text(
        "def pytest_addoption(parser):\n    parser.addoption('--steps')\n"
    )
    left = tmp_path / "left.pid"
    (graders / "test_leaves.py").write_text(
        textwrap.dedent(f"""\
            import subprocess, sys

            def test_starts_a_client_and_fails():
                child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
                open({str(left)!r}, "w").write(str(child.pid))
                assert False, "why: the client never drew"
            """)
    )
    monkeypatch.setattr(grade, "grader_for", lambda n: graders / "test_leaves.py")
    folder = tmp_path / "steps" / STEP.dir
    folder.mkdir(parents=True)

    async def grade_once() -> ideas.Verdict:
        done = asyncio.Event()

        def update(verdict: ideas.Verdict) -> None:
            if verdict.finished:
                done.set()

        grader = ideas.Grader(update, workers=1)
        verdict = await grader.start(STEP, folder)
        await asyncio.wait_for(done.wait(), GRADED)
        return verdict

    verdict = asyncio.run(grade_once())
    assert verdict.failed and not verdict.error, verdict
    pid = int(left.read_text())
    wait_until(lambda: not alive(pid), "the failed test's program to end", 10)


def test_the_status_lines_fit_the_pane_and_the_failed_idea_stays() -> None:
    """Step 05 has 9 ideas; at 120x35 the status pane has 6 rows under its verdict line. The
    ideas not run after a failed one become one line, so the verdict never scrolls away."""
    not_run = "not run: an idea before it does not hold yet"
    shown = [
        ideas.Idea("one thread waits in one epoll", "passed"),
        ideas.Idea("simulated edges arrive beside the sockets", "failed", "why: none came"),
        *(ideas.Idea(f"idea {n}", "pending", not_run) for n in range(7)),
    ]
    lines = fit(shown, 5)
    assert len(lines) == 3, lines
    assert "simulated edges" in lines[1] and "why: none came" in lines[1], lines
    assert f"7 more: {not_run}" in lines[2], lines
    assert len(fit(shown, 2)) == 2 and "more" in fit(shown, 2)[-1]
    assert [line.count("\n") for line in fit(shown, 20)] == [0] * 9, "room: one line each"


def test_alive_when_the_process_is_reaped_between_its_two_looks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """alive() asks the kernel (kill 0), then /proc for a zombie: a process reaped in
    between once raised FileNotFoundError out of a test under load (and could, out of
    make live's runner)."""
    child = subprocess.Popen(["true"])
    wait_until(lambda: Path(f"/proc/{child.pid}/stat").read_text().split(") ")[-1][0] == "Z",
               "the child to exit (a zombie until reaped)")  # fmt: skip
    real_kill = os.kill

    def kill_then_reap(pid: int, signum: int) -> None:
        real_kill(pid, signum)  # the zombie is there
        child.wait()  # and now it is not

    monkeypatch.setattr("tools.live.os.kill", kill_then_reap)
    assert alive(child.pid) is False
