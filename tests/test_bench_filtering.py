"""`make bench`'s filtering part, quick: the arg0 client gets its source only, the other all.

Counts, never times: per round and N, the client subscribed to every Message gets every
source's datagrams, the one subscribed with arg0='src0' gets src0's and nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.bench import filtering
from tools.bench.common import Options

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 240  # seconds: the quick part takes well under 30 s; this is only for a hang
GPIO = "simulated:0"  # the step 06 receiver's simulated line: its edges are Messages too


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench")
    run = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--quick", "--only", "filtering", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert run.returncode == 0, f"bench --only filtering failed:\n{run.stdout}\n{run.stderr}"
    return json.loads((out / "bench.json").read_text()), out


def figure(data: dict, name: str) -> dict:
    for found in data["figures"]:
        if found["section"] == filtering.SECTION and found["name"] == name:
            return found
    raise AssertionError(f"no figure {name}; skipped: {data['skipped']}")


@pytest.mark.slow
@pytest.mark.parametrize("count", filtering.SOURCES)
def test_arg0_client_gets_only_its_source(quick: tuple[dict, Path], count: int) -> None:
    data, _ = quick
    each = filtering.per_round(Options(quick=True)) + 1  # the datagrams and the round's end
    rounds = figure(data, f"N={count}/arg0/delivered")["extra"]["counts"]
    assert len(rounds) == data["environment"]["repeats"]
    for counts in rounds:
        assert counts == {filtering.WANTED: each}, f"arg0='src0' delivered {counts}"


@pytest.mark.slow
@pytest.mark.parametrize("count", filtering.SOURCES)
def test_unfiltered_client_gets_every_source(quick: tuple[dict, Path], count: int) -> None:
    data, _ = quick
    each = filtering.per_round(Options(quick=True)) + 1
    for counts in figure(data, f"N={count}/all/delivered")["extra"]["counts"]:
        counts.pop(GPIO, None)  # its edges come on their own clock, some rounds get one
        assert counts == dict.fromkeys(filtering.names(count), each), counts
    delivered = figure(data, f"N={count}/all/delivered")
    assert delivered["median"] >= count * each
    kept = figure(data, f"N={count}/all/kept")
    assert kept["median"] == each  # it keeps what the arg0 client gets: the same messages
    assert figure(data, f"N={count}/arg0/delivered")["ratio"] < 1


@pytest.mark.slow
def test_costs_are_measured_and_the_chart_drawn(quick: tuple[dict, Path]) -> None:
    data, out = quick
    for count in filtering.SOURCES:
        for mode in filtering.MODES:
            for metric in ("wakeups", "wakeups_per_s", "cpu", "daemon_cpu"):
                found = figure(data, f"N={count}/{mode}/{metric}")
                assert all(value > 0 for value in found["repeats"]), found
    png = out / "filtering.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_match_rules() -> None:
    every = "type='signal',interface='org.example.Incoming',member='Message'"
    assert filtering.rule("all") == every
    assert filtering.rule("arg0") == every + ",arg0='src0'"
