"""Part 4, the cost of one method call: context switches and syscalls per call.

Context switches: /proc/PID/task/*/status (voluntary + nonvoluntary) of the client,
the server and the bus daemon, read before and after N calls one in flight.
Syscalls: `strace -c -f -p PID` attached to each of the three during another N calls.
The seeds say a call-return through the daemon costs "4 context switches".
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers import wait_until
from tools.bench.common import (
    BenchError,
    Figure,
    Options,
    Results,
    Worker,
    context_switches,
    median,
    start_worker,
)
from tools.bench.peers import bus_for

PAIRS = [("sdbus", "sdbus"), ("sdbus", "dbus-fast"), ("sdbus", "dbus-python")]  # client, server
ROLES = ("client", "server", "daemon")


YAMA = Path("/proc/sys/kernel/yama/ptrace_scope")


def ptrace_refused(scope_file: Path = YAMA, euid: int | None = None) -> str | None:
    """Why `strace -p` may not attach to processes it did not start here, or None.

    Yama's ptrace_scope (Ubuntu's default is 1): 1 and 2 allow only a process's own
    children, unless the tracer has CAP_SYS_PTRACE (root); 3 allows no attaching at all.
    """
    try:
        scope = int(scope_file.read_text())
    except (OSError, ValueError):
        return None  # no Yama: the classic rule (same user, or root) applies
    root = (os.geteuid() if euid is None else euid) == 0
    if scope == 0 or (scope in (1, 2) and root):
        return None
    return (
        f"kernel.yama.ptrace_scope={scope}: strace -p may not attach to processes it did not"
        " start (run as root, or: sudo sysctl kernel.yama.ptrace_scope=0)"
    )


def traced(pid: int) -> bool:
    """Is every thread of pid attached by a tracer?"""
    for tid in os.listdir(f"/proc/{pid}/task"):
        status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        if re.search(r"^TracerPid:\s+0$", status, re.MULTILINE):
            return False
    return True


def syscall_total(summary: str) -> int:
    """The calls column of strace -c's total line."""
    for line in summary.splitlines():
        fields = line.split()
        if fields and fields[-1] == "total":
            return int(fields[3])
    raise BenchError("strace -c printed no total line")


def per_call(client: Worker, pids: dict[str, int], n: int, repeats: int) -> dict[str, list[float]]:
    """Context switches per call, per role, for each repeat."""
    out: dict[str, list[float]] = {role: [] for role in pids}
    for _ in range(repeats):
        before = {role: sum(context_switches(pid)) for role, pid in pids.items()}
        client.ask(op="calls", n=n, inflight=1)
        for role, pid in pids.items():
            out[role].append((sum(context_switches(pid)) - before[role]) / n)
    return out


def strace_per_call(client: Worker, pids: dict[str, int], n: int) -> dict[str, float]:
    """Syscalls per call, per role, with strace -c attached to all of them at once."""
    with tempfile.TemporaryDirectory(prefix="bench-strace-") as folder:
        tracers = {}
        for role, pid in pids.items():
            output = os.path.join(folder, role)
            tracers[role] = subprocess.Popen(
                ["strace", "-c", "-f", "-q", "-o", output, "-p", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        try:
            for role, pid in pids.items():
                wait_until(functools.partial(traced, pid), f"strace to attach to the {role}")
            client.ask(op="calls", n=n, inflight=1)
        finally:
            for tracer in tracers.values():
                tracer.send_signal(signal.SIGINT)
            for tracer in tracers.values():
                tracer.wait(timeout=20)
        out = {}
        for role, tracer in tracers.items():
            text = Path(folder, role).read_text() if Path(folder, role).exists() else ""
            if tracer.returncode not in (0, -signal.SIGINT) or not text:
                assert tracer.stderr is not None
                reason = tracer.stderr.read().decode(errors="replace").strip().splitlines()
                raise BenchError(f"strace failed: {reason[-1] if reason else 'no output'}")
            out[role] = syscall_total(text) / n
        return out


def measure_pair(
    label: str,
    section: str,
    client: Worker,
    pids: dict[str, int],
    options: Options,
    results: Results,
) -> None:
    n = 200 if options.quick else 1000
    switches = per_call(client, pids, n, options.repeats)
    for role, values in switches.items():
        results.add(
            Figure(section, f"{label}/{role}/ctxsw", "switches/call", median(values), values)
        )
    total = [sum(v) for v in zip(*switches.values(), strict=True)]
    results.add(
        Figure(
            section,
            f"{label}/total/ctxsw",
            "switches/call",
            median(total),
            total,
            baseline="the seeds' 4",
            ratio=median(total) / 4,
            note="client + server + daemon; the seeds: 4 per call-return",
        )
    )
    if shutil.which("strace") is None:
        results.skip(section, f"{label}/syscalls", "strace is not installed")
        return
    if reason := ptrace_refused():
        results.skip(section, f"{label}/syscalls", reason)
        return
    try:
        syscalls = strace_per_call(client, pids, n)
    except (BenchError, AssertionError, subprocess.TimeoutExpired) as error:
        reason = str(error).strip().splitlines()[0]
        results.skip(section, f"{label}/syscalls", f"strace -c -p did not work here: {reason}")
        return
    for role, value in syscalls.items():
        note = "strace -c -f, one run"
        results.add(
            Figure(section, f"{label}/{role}/syscalls", "syscalls/call", value, [value], note=note)
        )


def run(options: Options, results: Results) -> None:
    with bus_for(options) as (private, env):
        assert private.process is not None
        for client_lib, server_lib in PAIRS:
            label = f"{client_lib}->{server_lib}"
            print(f"  cost {label}", file=sys.stderr, flush=True)
            try:
                with (
                    start_worker(["server", server_lib], options, env) as server,
                    start_worker(["client", client_lib], options, env) as client,
                ):
                    client.ask(op="calls", n=100, inflight=1)  # warm-up
                    pids = {"client": client.pid, "server": server.pid}
                    pids["daemon"] = private.process.pid
                    measure_pair(label, "cost", client, pids, options, results)
            except BenchError as error:
                results.skip("cost", label, str(error))
