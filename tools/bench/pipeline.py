"""Part 2, the steps' own pipeline: datagram -> step 06 / step 10 server -> Message -> client.

Each step's receiver (steps/NN_*/receiver.py SOCKET) owns org.example.Incoming on a
private bus of its own and emits Message(s source, t timestamp_ns, s text) per
datagram. A sender worker sends "SEQ SEND_NS" datagrams (CLOCK_MONOTONIC); a client
worker receives the signals: the sequence numbers prove nothing was lost, SEND_NS
gives the end-to-end latency. Step 06 receives one datagram per wakeup; step 10
drains the socket (one wakeup, many datagrams). Their repeats take turns, so a
change in the machine's load hits both alike.

Beside them, the ceiling: an sdbus server emitting a signal flat out to an sdbus
client (the peers part's workers), on a bus of its own, in the same turns.

And where a message's time goes in each server: tools/bench/breakdown.py, from
/proc around the throughput repeats, and `strace -c` during one more burst.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.helpers import Program
from tools import table
from tools.bench import breakdown, peers
from tools.bench.breakdown import ZERO, Usage
from tools.bench.common import (
    ROOT,
    BenchError,
    Figure,
    Options,
    Results,
    Worker,
    median,
    percentile,
    pin_pid,
    start_worker,
)

STEPS = (6, 10)  # as taught, and the fast path
RATE = 1000  # datagrams per second offered for the latency figures
SOCKET = "bench-pipeline"
CEILING = "sdbus ceiling"


def label(n: int) -> str:
    return f"step {n:02d}"


@dataclass
class Setup:
    """One step's pipeline: its receiver and a client on a private bus of their own."""

    n: int
    receiver: Program
    client: Worker
    path: str
    pids: dict[str, int]  # server, daemon, client
    env: dict[str, str]
    first: int = 0  # the next sequence number
    rates: list[float] = field(default_factory=list)
    lost: int = 0
    received: int = 0
    used: dict[str, Usage] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return label(self.n)


def sync(client: Worker, path: str) -> None:
    """Send probe datagrams until the client sees one come through as a signal."""
    from tests.helpers import send

    for _ in range(100):
        send(path, b"probe")
        if client.ask(op="probe", timeout=0.2)["seen"]:
            return
    raise BenchError("no Message signal came through for a probe datagram")


def burst(setup: Setup, count: int, rate: float, options: Options) -> dict:
    setup.client.send(op="collect", first=setup.first, count=count, timeout=10.0)
    args = ["pipe-send", setup.path, str(setup.first), str(count), str(rate)]
    with start_worker(args, options, setup.env) as sender:
        sender.read(timeout=120)
    reply = setup.client.read(timeout=120)
    setup.first += count
    if reply["missing"]:
        print(f"  {setup.label}: {reply['missing']} of {count} lost", file=sys.stderr, flush=True)
    return reply


@contextlib.contextmanager
def pipeline(n: int, options: Options) -> Iterator[Setup]:
    """Step n's receiver and a client, synced, on a private bus; BenchError if it won't run."""
    folder = table.get(n).folder(ROOT / "steps")
    receiver_py = folder / "receiver.py"
    if not receiver_py.exists():
        raise BenchError(f"{receiver_py.relative_to(ROOT)} does not exist yet")
    with (
        peers.bus_for(options) as (private, env),
        tempfile.TemporaryDirectory(prefix="bench-") as runtime,
    ):
        assert private.process is not None
        env = {**env, "XDG_RUNTIME_DIR": runtime}
        path = os.path.join(runtime, SOCKET)
        argv = [*options.prefix(), sys.executable, receiver_py.name, path]
        receiver = Program(argv, cwd=folder, env=env)
        try:
            receiver.expect(r"listening on", timeout=30)
            receiver.expect(r"on the bus as", timeout=30)
            if options.pin:
                pin_pid(receiver.pid)
            with start_worker(["pipe-client", SOCKET], options, env) as client:
                sync(client, path)
                pids = {"server": receiver.pid, "daemon": private.process.pid, "client": client.pid}
                yield Setup(n, receiver, client, path, pids, env)
        except AssertionError as error:
            reason = str(error).strip().splitlines()[0]
            raise BenchError(f"the step {n:02d} pipeline did not run: {reason}") from None
        finally:
            receiver.stop()


def run(options: Options, results: Results) -> None:
    with contextlib.ExitStack() as stack:
        setups = []
        for n in STEPS:
            try:
                setups.append(stack.enter_context(pipeline(n, options)))
            except BenchError as error:
                for name in ("throughput", "latency-p50", "latency-p99"):
                    results.skip("pipeline", f"{label(n)}/{name}", str(error))
        if not setups:
            return
        ceiling = stack.enter_context(ceiling_client(options))
        throughput(setups, ceiling, options, results)
        latency(setups, options, results)
        for setup in setups:
            syscalls(setup, options, results)
    targets(results)


@contextlib.contextmanager
def ceiling_client(options: Options) -> Iterator[Worker | None]:
    """An sdbus client of an sdbus server that emits signals flat out; None if it won't run."""
    try:
        with (
            peers.bus_for(options) as (_bus, env),
            start_worker(["server", peers.FIXED], options, env),
            start_worker(["client", peers.FIXED], options, env) as client,
        ):
            yield client
    except BenchError as error:
        print(f"  no {CEILING}: {error}", file=sys.stderr, flush=True)
        yield None


def throughput(
    setups: list[Setup], ceiling: Worker | None, options: Options, results: Results
) -> None:
    flat = max(500, int(20_000 * options.target))
    for setup in setups:
        burst(setup, flat // 5, 0, options)  # warm-up
    signals = 0
    if ceiling is not None:
        warm = ceiling.ask(op="signals", n=1000, timeout=peers.SIGNAL_TIMEOUT)
        signals = int(min(max(warm["received"] / warm["elapsed"] * options.target, 100), 200_000))
    ceiling_rates: list[float] = []
    for _ in range(options.repeats):  # the steps and the ceiling take turns
        for setup in setups:
            before = {role: Usage.of(pid) for role, pid in setup.pids.items()}
            reply = burst(setup, flat, 0, options)
            for role, pid in setup.pids.items():
                setup.used[role] = setup.used.get(role, ZERO) + (Usage.of(pid) - before[role])
            setup.lost += reply["missing"]
            setup.received += reply["received"]
            setup.rates.append(reply["received"] / reply["elapsed"])
        if ceiling is not None:
            reply = ceiling.ask(op="signals", n=signals, timeout=peers.SIGNAL_TIMEOUT)
            ceiling_rates.append(reply["received"] / reply["elapsed"] if reply["received"] else 0)
    for setup in setups:
        note = f"flat out, {flat} per repeat; lost {setup.lost}"
        figure = Figure(
            "pipeline",
            f"{setup.label}/throughput",
            "msg/s",
            median(setup.rates),
            setup.rates,
            note=note,
        )
        results.add(figure)
        breakdown.cpu_figures(setup.label, setup.used, setup.received, results)
    if ceiling_rates:
        note = "an sdbus server emitting Tick(u) flat out, an sdbus client counting (signals/s)"
        results.add(
            Figure(
                "pipeline",
                f"{CEILING}/throughput",
                "msg/s",
                median(ceiling_rates),
                ceiling_rates,
                note=note,
            )
        )


def latency(setups: list[Setup], options: Options, results: Results) -> None:
    paced = max(200, int(RATE * options.target * 8))
    p50s: dict[int, list[float]] = {setup.n: [] for setup in setups}
    p99s: dict[int, list[float]] = {setup.n: [] for setup in setups}
    lost = dict.fromkeys(p50s, 0)
    for _ in range(options.repeats):
        for setup in setups:
            reply = burst(setup, paced, RATE, options)
            lost[setup.n] += reply["missing"]
            if latencies := reply["latencies_us"]:
                p50s[setup.n].append(percentile(latencies, 0.50))
                p99s[setup.n].append(percentile(latencies, 0.99))
    for setup in setups:
        note = f"{RATE}/s offered, {paced} per repeat; lost {lost[setup.n]}"
        if not p50s[setup.n]:
            results.skip("pipeline", f"{setup.label}/latency", f"nothing came through at {RATE}/s")
            continue
        for name, values in (("latency-p50", p50s[setup.n]), ("latency-p99", p99s[setup.n])):
            results.add(
                Figure("pipeline", f"{setup.label}/{name}", "µs", median(values), values, note=note)
            )


def syscalls(setup: Setup, options: Options, results: Results) -> None:
    """Syscalls per message by kind: strace -c attached to the server during one more burst."""
    count = max(500, int(20_000 * options.target))

    def one_burst() -> int:
        return int(burst(setup, count, 0, options)["received"])

    breakdown.count_syscalls(setup.label, setup.pids["server"], one_burst, results)


def targets(results: Results) -> None:
    """Ratios within this run: step 06 against the raw limit, step 10 against step 06."""
    old, new = label(STEPS[0]), label(STEPS[-1])
    raw = results.get("raw", "blocking")
    first = results.get("pipeline", f"{old}/throughput")
    if raw is not None and first is not None:
        first.baseline, first.ratio = "raw/blocking", first.median / raw.median
    for name in ("throughput", "latency-p50", "latency-p99"):
        base = results.get("pipeline", f"{old}/{name}")
        figure = results.get("pipeline", f"{new}/{name}")
        if base is not None and figure is not None and base.median > 0:
            figure.baseline, figure.ratio = f"{old}/{name}", figure.median / base.median
    ceiling = results.get("pipeline", f"{CEILING}/throughput")
    for n in STEPS:
        figure = results.get("pipeline", f"{label(n)}/throughput")
        if ceiling is not None and figure is not None and ceiling.median > 0:
            share = figure.median / ceiling.median
            figure.extra["of_ceiling"] = share
            figure.note += f"; {share:.0%} of the {CEILING}"
