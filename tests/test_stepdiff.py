"""`make diff-N` on the projector: coloured, one screen at a time, the typed file first."""

from __future__ import annotations

import subprocess

from tests.tmux_server import Tmux, needs_tmux
from tools import table


@needs_tmux()
def test_diff_on_a_terminal_is_coloured_and_paged() -> None:
    tmux = Tmux()
    try:
        command = f"cd {table.ROOT} && make --no-print-directory diff-6; echo diff-ended-$?"
        tmux("new-session", "-d", "-s", "diff", "-x", "120", "-y", "35", command + "; sleep 60")
        tmux.wait_for("diff", "+++ steps/06_dbus_server/interface.py", 30)
        shown = tmux("capture-pane", "-p", "-e", "-t", "diff")  # -e: with its colours
        assert "\x1b[" in shown, shown
        assert "diff-ended" not in shown, "the pager holds the first screen"
        assert "receiver.py" not in tmux.capture("diff"), "one file's part at a time (interface.py)"
        tmux("send-keys", "-t", "diff", "q")
        tmux.wait_for("diff", "diff-ended-0", 30)
    finally:
        tmux.kill()


def test_one_file_and_a_file_the_step_does_not_change() -> None:
    def make(*args: str) -> subprocess.CompletedProcess[str]:
        command = ["make", "--no-print-directory", *args]
        return subprocess.run(command, cwd=table.ROOT, capture_output=True, text=True, timeout=60)

    one = make("diff-6", "FILE=receiver.py")
    assert one.returncode == 0 and "+++ steps/06_dbus_server/receiver.py" in one.stdout
    assert "+++ steps/06_dbus_server/interface.py" not in one.stdout
    wrong = make("diff-6", "FILE=nope.py")
    assert wrong.returncode != 0
    assert "diff-6: step 6 does not change nope.py (it changes: interface.py, receiver.py)" in (
        wrong.stderr
    )
