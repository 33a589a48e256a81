"""What every part of the benchmark shares: the options, the results, starting workers."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import Program
from tools import bus as busmod

ROOT = Path(__file__).resolve().parent.parent.parent

# The benchmark's own D-Bus service, served by every peer library the same way.
NAME = "org.example.Bench"
PATH = "/org/example/Bench"
IFACE = "org.example.Bench"
INTROSPECTION = f"""<node>
  <interface name="{IFACE}">
    <method name="Echo"><arg type="u" direction="in"/><arg type="u" direction="out"/></method>
    <method name="Emit"><arg type="u" direction="in"/></method>
    <signal name="Tick"><arg type="u"/></signal>
  </interface>
</node>"""

WORKER_TIMEOUT = 60.0  # seconds for one worker command: only hit when something hangs


class BenchError(RuntimeError):
    """A part could not run; the message is one line for the output's 'skipped' list."""


@dataclass
class Options:
    quick: bool = False
    pin: bool = False
    out: Path = ROOT / "build" / "bench"

    @property
    def repeats(self) -> int:
        return 3 if self.quick else 5

    @property
    def target(self) -> float:
        """Seconds one repeat should last."""
        return 0.04 if self.quick else 0.25

    @property
    def mode(self) -> str:
        return "pinned (taskset -c 0: bus, servers, clients)" if self.pin else "scheduler"

    def prefix(self) -> list[str]:
        """The argv prefix that pins a process (or nothing)."""
        return ["taskset", "-c", "0"] if self.pin else []


@dataclass
class Figure:
    section: str
    name: str
    unit: str
    median: float
    repeats: list[float]
    baseline: str = ""  # the figure (in the same section) the ratio is against
    ratio: float | None = None
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def skip(self, section: str, name: str, reason: str) -> None:
        self.skipped.append({"section": section, "name": name, "reason": reason})
        print(f"  skipped {section}/{name}: {reason}", file=sys.stderr, flush=True)

    def get(self, section: str, name: str) -> Figure | None:
        for figure in self.figures:
            if figure.section == section and figure.name == name:
                return figure
        return None

    def section(self, section: str) -> list[Figure]:
        return [f for f in self.figures if f.section == section]

    def ratios(self, section: str, baseline: str, names: Sequence[str] | None = None) -> None:
        """Set each figure's ratio to the baseline figure of the same section."""
        base = self.get(section, baseline)
        if base is None or base.median <= 0:
            return
        for figure in self.section(section):
            if names is None or figure.name in names:
                figure.baseline = baseline
                figure.ratio = figure.median / base.median

    def as_json(self) -> dict[str, object]:
        return {"figures": [asdict(f) for f in self.figures], "skipped": self.skipped}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (fraction 0.99 for p99) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def pin_pid(pid: int) -> None:
    """Pin every thread of a running process (one we did not start with taskset) to CPU 0."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), {0})


def context_switches(pid: int) -> tuple[int, int]:
    """(voluntary, nonvoluntary) context switches of a process, summed over its threads."""
    voluntary = nonvoluntary = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:  # the thread just ended
            continue
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                nonvoluntary += int(line.split()[1])
    return voluntary, nonvoluntary


class Worker:
    """A worker process (python -m tools.bench.worker ..., or another module) that answers JSON
    commands."""

    def __init__(
        self,
        args: Sequence[str],
        options: Options,
        env: dict[str, str],
        module: str = "tools.bench.worker",
    ) -> None:
        argv = [*options.prefix(), sys.executable, "-m", module, *args]
        self.name = " ".join(args)
        self.program = Program(argv, cwd=ROOT, env=env, stdin=subprocess.PIPE)
        self.ready: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.program.pid

    def read(self, timeout: float = WORKER_TIMEOUT) -> dict[str, Any]:
        try:
            line = self.program.expect(r"^\{", timeout).string
        except AssertionError as error:  # it ended or hung: say why in one line
            lines = [line for line in str(error).splitlines() if line.strip()]
            raise BenchError(f"{self.name}: {lines[0].split(': ', 1)[-1]}; {lines[-1]}") from None
        reply = json.loads(line)
        if "error" in reply:
            raise BenchError(f"{self.name}: {reply['error']}")
        return reply

    def send(self, **command: object) -> None:
        """Send a command; read() its answer later (to start something else meanwhile)."""
        stdin = self.program.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()

    def ask(self, **command: object) -> dict[str, Any]:
        """Send a command and wait for its answer."""
        self.send(**command)
        return self.read()

    def stop(self) -> None:
        stdin = self.program.process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.close()  # a client ends at the end of its input
        self.program.stop()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_worker(
    args: Sequence[str], options: Options, env: dict[str, str], module: str = "tools.bench.worker"
) -> Worker:
    """A worker (of module) that is ready, or BenchError with its reason."""
    worker = Worker(args, options, env, module)
    try:
        worker.ready = worker.read()
    except BenchError:
        worker.stop()
        raise
    return worker


def bus_env(bus: busmod.Bus) -> dict[str, str]:
    env = bus.env
    env.pop("PYTHONPATH", None)
    env["PYTHONPATH"] = str(ROOT)
    return env
