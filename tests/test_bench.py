"""`make bench` smoke test: `python -m tools.bench --quick` measures every figure.

Checks that each figure is there and positive, and that the JSON and the charts
exist; never how big a figure is (this machine is shared and noisy).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.bench import breakdown, cost, memfd, peers, pipeline

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 240  # seconds: --quick takes well under 30 s; this is only for a hang

RAW = ["blocking", "sock_recv", "reader", "rtt"]
STEPS = [pipeline.label(n) for n in pipeline.STEPS]  # "step 06", "step 10"
PIPELINE = [f"{s}/{m}" for s in STEPS for m in ["throughput", "latency-p50", "latency-p99"]]
PIPELINE.append(f"{pipeline.CEILING}/throughput")
BREAKDOWN = [f"{s}/{k}" for s in STEPS for k in [*breakdown.KINDS, *breakdown.CPU, "wakeups"]]
COUNTED = {*breakdown.KINDS, "sleeps", "writes untraced"}  # counts per message: may be 0
SPLIT = {"cpu server user", "cpu server system"}  # sampled by clock ticks: one may get none
COST_PAIRS = ["sdbus->sdbus", "sdbus->dbus-fast", "sdbus->dbus-python"]
METRICS = ["client/ctxsw", "server/ctxsw", "daemon/ctxsw", "total/ctxsw"]
STRACE = ["client/syscalls", "server/syscalls", "daemon/syscalls"]
BLOCKING_ONLY = {"sdbus-blocking/calls100", "sdbus-blocking/signals"}  # no such API


def bench(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.bench", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    out = tmp_path_factory.mktemp("bench")
    run = bench("--quick", "--out", out)
    assert run.returncode == 0, f"bench --quick failed:\n{run.stdout}\n{run.stderr}"
    return json.loads((out / "bench.json").read_text()), out, run.stdout


def expected() -> dict[str, list[str]]:
    kinds = list(peers.KINDS)
    clients = [f"{c}/{k}" for c in peers.CLIENTS for k in kinds]
    return {
        "raw": RAW,
        "clients": [name for name in clients if name not in BLOCKING_ONLY],
        "servers": [f"{s}/{k}" for s in peers.SERVERS for k in kinds],
        "cost": [f"{p}/{m}" for p in COST_PAIRS for m in METRICS + STRACE],
        "memfd": [f"{w}/{memfd.label(n)}" for n in memfd.QUICK_SIZES for w in memfd.WAYS],
        "pipeline": PIPELINE,
        "breakdown": BREAKDOWN,
    }


def figures(data: dict) -> dict[tuple[str, str], dict]:
    return {(f["section"], f["name"]): f for f in data["figures"]}


def skipped(data: dict) -> dict[tuple[str, str], str]:
    return {(s["section"], s["name"]): s["reason"] for s in data["skipped"]}


@pytest.mark.slow
def test_every_figure_is_measured_and_positive(quick: tuple[dict, Path, str]) -> None:
    data, _, _ = quick
    found = figures(data)
    for section, names in expected().items():
        for name in names:
            figure = found.get((section, name))
            assert figure is not None, f"no figure {section}/{name}; skipped: {data['skipped']}"
    for (section, name), figure in found.items():
        if section == "breakdown" and name.split("/")[1] in COUNTED | SPLIT:  # may be none
            assert figure["median"] >= 0, f"{section}/{name} is negative: {figure}"
            continue
        assert figure["median"] > 0, f"{section}/{name} is not positive: {figure}"
        assert figure["repeats"] and all(v > 0 for v in figure["repeats"]), figure
    for step in STEPS:  # the split's two parts add up to the server's CPU time, which is not 0
        user, system = (
            found["breakdown", f"{step}/cpu server {part}"]["median"] for part in ["user", "system"]
        )
        assert system + user > 0, f"{step}: the server used no CPU time: {user} + {system} µs/msg"


@pytest.mark.slow
def test_medians_of_repeats_and_ratios_to_a_baseline(quick: tuple[dict, Path, str]) -> None:
    data, _, _ = quick
    found = figures(data)
    assert data["environment"]["repeats"] >= 3
    for key in [("raw", "blocking"), ("clients", "dbus-python/calls1")]:
        assert len(found[key]["repeats"]) == data["environment"]["repeats"], found[key]
    assert found["clients", "sdbus/calls1"]["ratio"] == pytest.approx(1.0)
    assert found["clients", "jeepney/signals"]["baseline"] == "sdbus/signals"
    assert found["clients", "jeepney/signals"]["ratio"] > 0
    assert found["cost", "sdbus->sdbus/total/ctxsw"]["baseline"] == "the seeds' 4"
    old, new = STEPS
    assert found["pipeline", f"{old}/throughput"]["baseline"] == "raw/blocking"
    for name in ("throughput", "latency-p50", "latency-p99"):  # step 10 against step 06
        assert found["pipeline", f"{new}/{name}"]["baseline"] == f"{old}/{name}"
        assert found["pipeline", f"{new}/{name}"]["ratio"] > 0
    assert found["pipeline", f"{new}/throughput"]["extra"]["of_ceiling"] > 0
    for step in STEPS:  # every datagram is one recvmsg that got it
        assert found["breakdown", f"{step}/recvmsg"]["median"] >= 1


@pytest.mark.slow
def test_skips_say_why(quick: tuple[dict, Path, str]) -> None:
    data, _, _ = quick
    found, skips = figures(data), skipped(data)
    for name in BLOCKING_ONLY:
        assert skips.get(("clients", name)), f"clients/{name} should be skipped with a reason"
    if ("broker", "dbus-broker/calls1") not in found:
        assert skips.get(("broker", "dbus-broker")), "dbus-broker neither measured nor explained"


@pytest.mark.slow
def test_json_environment_table_and_charts(quick: tuple[dict, Path, str]) -> None:
    data, out, stdout = quick
    env = data["environment"]
    assert env["cpus"] > 0 and env["pinning"] == "scheduler" and env["quick"] is True
    assert env["versions"]["sdbus"] and env["versions"]["dbus-fast"] and env["versions"]["jeepney"]
    assert "scheduler" in stdout.splitlines()[0]
    lines = ["blocking", "sdbus/calls1", "dbus-python/signals", "sdbus->sdbus/total/ctxsw"]
    lines += [f"{STEPS[1]}/throughput", f"{STEPS[0]}/syscalls", "of the sdbus ceiling"]
    for line in lines:
        assert line in stdout, f"{line} missing from the table"
    charts = ["raw.png", "clients.png", "servers.png", "cost-ctxsw.png", "cost-syscalls.png"]
    charts += ["memfd.png", "pipeline.png", "breakdown.png"]
    if any(f["section"] == "broker" for f in data["figures"]):
        charts.append("broker.png")
    for chart in charts:
        png = out / chart
        assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", chart


def test_pinned_mode_is_recorded(tmp_path: Path) -> None:
    run = bench("--quick", "--pin", "--only", "raw", "--out", tmp_path)
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["environment"]["pinning"].startswith("pinned")
    assert "pinned" in run.stdout.splitlines()[0]
    assert figures(data)["raw", "blocking"]["median"] > 0


def test_bad_input_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    run = bench("--only", "raw,nonsense", "--out", tmp_path)
    assert run.returncode == 2
    assert "no part nonsense" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("scope", "euid", "refused"),
    [(None, 1000, False), ("0", 1000, False), ("1", 1000, True), ("1", 0, False), ("3", 0, True)],
)
def test_strace_p_is_skipped_where_yama_refuses_it(
    tmp_path: Path, scope: str | None, euid: int, refused: bool
) -> None:
    """Ubuntu's ptrace_scope=1 refuses `strace -p` of a process strace did not start to a
    non-root user: the syscall figures are then skipped with that reason, not timed out."""
    scope_file = tmp_path / "ptrace_scope"
    if scope is not None:
        scope_file.write_text(f"{scope}\n")
    reason = cost.ptrace_refused(scope_file, euid)
    assert (reason is not None) == refused, reason
    if reason:
        assert f"ptrace_scope={scope}" in reason and "\n" not in reason
