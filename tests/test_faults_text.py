"""NUL and other control bytes: the same visible text on stdout and on the bus, with a notice.

D-Bus strings cannot hold a NUL (sd-bus cuts the text there), a newline would make two
lines of one datagram, an escape sequence would drive the terminal. The server escapes
them (\\x00, \\x0a, \\x1b) and says so; a real listener on a real bus must get exactly
what the server printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, Program, send
from tools import bus, table

PAYLOADS = {
    b"hello\0world": r"(control characters escaped) hello\x00world",
    b"two\nlines": r"(control characters escaped) two\x0alines",
    b"\x1b[2Jclear": r"(control characters escaped) \x1b[2Jclear",
    b"tab\there": r"(control characters escaped) tab\x09here",
    b"plain text": "plain text",
}


@pytest.mark.parametrize("n", [6, 10])
def test_control_bytes_look_the_same_on_stdout_and_on_the_bus(
    n: int, tmp_path: Path, programs: list[Program]
) -> None:
    with bus.private_bus(tmp_path / "bus") as private:
        listener = Program(
            [sys.executable, "-m", "tests.dbus_listen", "--count", str(len(PAYLOADS))],
            cwd=ROOT, env=private.env,
        )  # fmt: skip
        programs.append(listener)
        listener.expect("^subscribed$")
        server = Program(
            [sys.executable, "receiver.py", tmp_path / "load", "--gpio", "none:0"],
            cwd=table.get(n).folder(ROOT / "steps"), env=private.env,
        )  # fmt: skip
        programs.append(server)
        server.expect(r"^on the bus as org\.example\.Incoming$", timeout=60)
        send(tmp_path / "load", *PAYLOADS)
        printed = [server.expect(r"^[^:]+: ").string.split(": ", 1)[1] for _ in PAYLOADS]
        on_the_bus = [line.split("\t", 2)[2] for line in listener.expect_lines(len(PAYLOADS))]
    assert printed == list(PAYLOADS.values()), printed
    assert on_the_bus == printed, "the bus carries other text than the server printed"
