"""Part 2, the steps' own pipeline: datagram -> step 06 server -> Message signal -> client.

The step 06 receiver (steps/06_dbus_server/receiver.py SOCKET) owns
org.example.Incoming on the session bus and emits Message(s source, t timestamp_ns,
s text) per datagram. A sender worker sends "SEQ SEND_NS" datagrams (CLOCK_MONOTONIC);
a client worker receives the signals: the sequence numbers prove nothing was lost,
SEND_NS gives the end-to-end latency.
"""

from __future__ import annotations

import os
import sys
import tempfile

from tests.helpers import Program
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
from tools.bench.peers import bus_for

STEP = ROOT / "steps" / "06_dbus_server"
RATE = 1000  # datagrams per second offered for the latency figures
SOCKET = "bench-pipeline"


def sync(client: Worker, path: str) -> None:
    """Send probe datagrams until the client sees one come through as a signal."""
    from tests.helpers import send

    for _ in range(100):
        send(path, b"probe")
        if client.ask(op="probe", timeout=0.2)["seen"]:
            return
    raise BenchError("no Message signal came through for a probe datagram")


def burst(
    client: Worker, path: str, first: int, count: int, rate: float, options: Options, env: dict
) -> dict:
    client.send(op="collect", first=first, count=count, timeout=10.0)
    args = ["pipe-send", path, str(first), str(count), str(rate)]
    with start_worker(args, options, env) as sender:
        sender.read(timeout=120)
    reply = client.read(timeout=120)
    if reply["missing"]:
        print(f"  pipeline: {reply['missing']} of {count} lost", file=sys.stderr, flush=True)
    return reply


def run(options: Options, results: Results) -> None:
    receiver_py = STEP / "receiver.py"
    if not receiver_py.exists():
        reason = f"{receiver_py.relative_to(ROOT)} does not exist yet"
        for name in ("throughput", "latency-p50", "latency-p99"):
            results.skip("pipeline", name, reason)
        return
    with bus_for(options) as (_bus, env), tempfile.TemporaryDirectory(prefix="bench-") as runtime:
        env = {**env, "XDG_RUNTIME_DIR": runtime}
        path = os.path.join(runtime, SOCKET)
        argv = [*options.prefix(), sys.executable, receiver_py.name, path]
        receiver = Program(argv, cwd=STEP, env=env)
        try:
            receiver.expect(r"listening on", timeout=30)
            if options.pin:
                pin_pid(receiver.pid)
            with start_worker(["pipe-client", SOCKET], options, env) as client:
                sync(client, path)
                measure(client, path, options, env, results)
        except (AssertionError, BenchError) as error:
            reason = str(error).strip().splitlines()[0]
            results.skip("pipeline", "all", f"the step 06 pipeline did not run: {reason}")
        finally:
            receiver.stop()


def measure(client: Worker, path: str, options: Options, env: dict, results: Results) -> None:
    first = 0
    flat = max(500, int(20_000 * options.target))
    burst(client, path, first, flat // 5, 0, options, env)  # warm-up
    first += flat
    rates, lost = [], 0
    for _ in range(options.repeats):
        reply = burst(client, path, first, flat, 0, options, env)
        first += flat
        lost += reply["missing"]
        rates.append(reply["received"] / reply["elapsed"])
    note = f"flat out, {flat} per repeat; lost {lost}"
    results.add(Figure("pipeline", "throughput", "msg/s", median(rates), rates, note=note))
    raw = results.get("raw", "blocking")
    if raw is not None:
        figure = results.get("pipeline", "throughput")
        assert figure is not None
        figure.baseline, figure.ratio = "raw/blocking", figure.median / raw.median

    paced = max(200, int(RATE * options.target * 8))
    p50s, p99s, lost = [], [], 0
    for _ in range(options.repeats):
        reply = burst(client, path, first, paced, RATE, options, env)
        first += paced
        lost += reply["missing"]
        latencies = reply["latencies_us"]
        if latencies:
            p50s.append(percentile(latencies, 0.50))
            p99s.append(percentile(latencies, 0.99))
    note = f"{RATE}/s offered, {paced} per repeat; lost {lost}"
    if not p50s:
        results.skip("pipeline", "latency", f"no message came through at {RATE}/s")
        return
    results.add(Figure("pipeline", "latency-p50", "µs", median(p50s), p50s, note=note))
    results.add(Figure("pipeline", "latency-p99", "µs", median(p99s), p99s, note=note))
