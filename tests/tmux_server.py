"""A tmux server of the test's own: a private socket in a private TMUX_TMPDIR.

Everything the test starts in it (make, tools.live, tools.watch, their own tmux
commands) finds the same server through TMUX_TMPDIR, and kill-server can only ever
end this one, never a developer's tmux.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers import wait_until


class Tmux:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="tmux-"))  # short: sun_path holds 108 bytes
        self.env = {**(env or os.environ), "TMUX_TMPDIR": str(self.folder), "TERM": "xterm"}
        for name in ("TMUX", "TMUX_PANE"):  # not inside the developer's tmux, whatever happens
            self.env.pop(name, None)
        self.socket = self.folder / f"tmux-{os.getuid()}" / "default"  # where tmux looks first
        self.socket.parent.mkdir(mode=0o700)

    def __call__(self, *args: str, check: bool = False) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check and result.returncode:
            raise AssertionError(f"tmux {' '.join(args)}: {result.stderr}")
        return result.stdout

    def capture(self, target: str, history: bool = False) -> str:
        """What the pane shows now (history: and what scrolled off its top)."""
        return self("capture-pane", "-p", "-J", *(["-S", "-500"] if history else []), "-t", target)

    def wait_for(self, target: str, text: str, timeout: float, history: bool = False) -> str:
        """Wait until the pane shows text; return what it shows."""
        try:
            wait_until(lambda: text in self.capture(target, history), f"{text!r}", timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}; {target} shows:\n{self.capture(target)}") from None
        return self.capture(target, history)

    def panes(self) -> dict[str, str]:
        """title -> pane id, for every pane of the server."""
        listed = self("list-panes", "-a", "-F", "#{pane_title}\t#{pane_id}")
        return dict(line.split("\t") for line in listed.splitlines() if "\t" in line)

    def pane(self, title_start: str, timeout: float) -> str:
        """The id of the pane whose title starts with title_start (once it exists)."""

        def find() -> str:
            return next(
                (id for title, id in self.panes().items() if title.startswith(title_start)), ""
            )

        wait_until(lambda: bool(find()), f"a pane titled {title_start!r}", timeout)
        return find()

    def kill(self) -> None:
        self("kill-server")
        shutil.rmtree(self.folder, ignore_errors=True)


def needs_tmux() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not shutil.which("tmux"), reason="tmux is not installed")
