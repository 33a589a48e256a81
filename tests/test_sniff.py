"""`make sniff`: the capture of a short run holds exactly the signals the server emitted.

What the server emitted comes from its own output (one line per datagram or GPIO edge,
kept beside the capture); what the capture holds comes from tshark reading the pcapng.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import sniff, table

GPIO = "simulated:0"


def run(*args: str | Path | int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.sniff", *map(str, args)],
        cwd=table.ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def emitted(log: Path) -> list[tuple[str, int | None, str]]:
    """(source, timestamp_ns or None, text) of every message the server printed, in order."""
    lines = log.read_text().splitlines()
    sources = [line.removeprefix("listening on ") for line in lines if line.startswith("listening")]
    rows: list[tuple[str, int | None, str]] = []
    for line in lines:
        if line.startswith(f"{GPIO}: "):
            edge = re.fullmatch(rf"{GPIO}: (rising|falling) \[(\d+) ns\]", line)
            assert edge, line
            rows.append((GPIO, int(edge.group(2)), edge.group(1)))
            continue
        for source in sources:
            if line.startswith(f"{source}: "):
                rows.append((source, None, line.removeprefix(f"{source}: ")))
    return rows


@pytest.mark.parametrize("n", [6, 9], ids=["step06", "step09"])
def test_the_capture_holds_exactly_the_signals_of_the_run(n: int, tmp_path: Path) -> None:
    result = run("--step", n, "--seconds", "2", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    pcap = tmp_path / f"step-{n:02d}.pcapng"
    assert pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a", "not a pcapng file"  # section header
    expected = emitted(tmp_path / f"step-{n:02d}.receiver.txt")
    assert len(expected) >= 10 and any(source == GPIO for source, _, _ in expected), expected
    messages = sniff.read(pcap)
    captured = sniff.signals(messages, "Message")
    assert len(captured) == len(expected), f"{len(captured)} signals for {len(expected)} printed"
    for (source, stamp, text), args in zip(expected, captured, strict=True):
        assert (args[0], args[2]) == (source, text)
        assert stamp is None or args[1] == stamp
    stamps = [args[1] for args in captured]
    assert all(isinstance(stamp, int) and stamp > 0 for stamp in stamps)
    if n >= 9:  # MessageFrom beside every Message: the same source, time and text
        beside = sniff.signals(messages, "MessageFrom")
        assert [[a[0], a[1], a[5]] for a in beside] == captured
        assert {a[2] for a in beside if a[0] != GPIO} != {0}, "no sender pid in MessageFrom"
    assert f"{len(captured)} Message" in result.stdout.splitlines()[-2]


def test_the_summary_shows_calls_replies_and_signals(tmp_path: Path) -> None:
    result = run("--step", 9, "--seconds", "1", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"call +:1\.\d+ -> org\.example\.Incoming +GetIncoming\(\)", out), out
    assert re.search(r"reply .* 'as' \[.*\"simulated:0\"\]", out), out
    assert re.search(r"reply .* 'h' <Unix fd #0 of the message> .*\[1 Unix fd passed\]", out), out
    assert re.search(r"reply .* 'ay' ay\[\d+ bytes", out), out
    assert re.search(r'signal .*org\.example\.Incoming\.Message\(".*/load", \d+, "', out), out
    assert re.search(r'MessageFrom\("simulated:0", \d+, 0, 0, 0, "(rising|falling)"\)', out), out
    assert "Wireshark" in out


def test_a_step_without_the_bus_is_one_line(tmp_path: Path) -> None:
    result = run("--step", 3, "--out", tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "sniff: step 3 does not use the bus: nothing to sniff (steps 6 on)"
    ]


def test_a_file_that_is_not_a_capture_is_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "not.pcapng"
    bogus.write_text("hello, I am not a capture\n")
    result = run("--read", bogus)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sniff: tshark could not read {bogus}"), lines
