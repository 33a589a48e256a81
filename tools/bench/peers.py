"""Part 3, the peers: sdbus, dbus-fast, jeepney and dbus-python on one private bus.

Clients are compared against one fixed server (sdbus), servers against one fixed
client (sdbus). Workloads: method calls one in flight, INFLIGHT in flight, and
signal throughput (the server emits N signals on one call, the client counts them).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from tools import bus as busmod
from tools.bench.common import (
    BenchError,
    Figure,
    Options,
    Results,
    Worker,
    bus_env,
    median,
    pin_pid,
    start_worker,
)

SERVERS = ["sdbus", "dbus-fast", "jeepney", "dbus-python"]
CLIENTS = ["sdbus", "sdbus-blocking", "dbus-fast", "jeepney", "dbus-python"]
FIXED = "sdbus"
INFLIGHT = 100
KINDS = {
    "calls1": "method calls, 1 in flight",
    f"calls{INFLIGHT}": f"method calls, {INFLIGHT} in flight",
    "signals": "signals",
}
SIGNAL_TIMEOUT = 10.0  # seconds without the last signal: the rest count as lost


@contextlib.contextmanager
def bus_for(options: Options) -> Iterator[tuple[busmod.Bus, dict[str, str]]]:
    with busmod.private_bus() as private:
        if options.pin:
            assert private.process is not None
            pin_pid(private.process.pid)
        yield private, bus_env(private)


def measure(client: Worker, kind: str, options: Options) -> tuple[list[float], int]:
    """Rates (per s) of options.repeats repeats, sized to options.target s; and the lost."""

    def once(n: int) -> tuple[float, int]:
        if kind == "signals":
            reply = client.ask(op="signals", n=n, timeout=SIGNAL_TIMEOUT)
            received = int(reply["received"])
            return (received / float(reply["elapsed"]) if received else 0.0), n - received
        inflight = 1 if kind == "calls1" else INFLIGHT
        reply = client.ask(op="calls", n=n, inflight=inflight)
        return n / float(reply["elapsed"]), 0

    warm = 200 if kind == "calls1" else 1000
    rate, _ = once(warm)  # warm-up, and how many make one repeat of the target length
    n = int(min(max(rate * options.target, 100), 200_000))
    rates, lost = [], 0
    for _ in range(options.repeats):
        rate, missing = once(n)
        rates.append(rate)
        lost += missing
    return rates, lost


def run_pair(
    server: str, client: str, options: Options, env: dict[str, str]
) -> dict[str, tuple[list[float], int] | str]:
    """Every workload for one client against one (already running) server."""
    out: dict[str, tuple[list[float], int] | str] = {}
    print(f"  {client} -> {server}", file=sys.stderr, flush=True)
    try:
        worker = start_worker(["client", client], options, env)
    except BenchError as error:
        return dict.fromkeys(KINDS, str(error))
    with worker:
        for kind in KINDS:
            if kind != "calls1" and kind.startswith("calls") and worker.ready["max_inflight"] == 1:
                out[kind] = f"{client} has no concurrent calls (a blocking API)"
            elif kind == "signals" and not worker.ready["signals"]:
                out[kind] = f"{client} has no signal API"
            else:
                try:
                    out[kind] = measure(worker, kind, options)
                except BenchError as error:
                    out[kind] = str(error)
    return out


def record(results: Results, section: str, who: str, measured: dict) -> None:
    for kind, value in measured.items():
        name = f"{who}/{kind}"
        if isinstance(value, str):
            results.skip(section, name, value)
            continue
        rates, lost = value
        unit = "signals/s" if kind == "signals" else "calls/s"
        note = f"{KINDS[kind]}; lost {lost}" if lost else KINDS[kind]
        results.add(Figure(section, name, unit, median(rates), rates, note=note))


def run(options: Options, results: Results) -> None:
    with bus_for(options) as (_bus, env):
        pairs: dict[tuple[str, str], dict] = {}
        for server in SERVERS:
            clients = CLIENTS if server == FIXED else [FIXED]
            try:
                worker = start_worker(["server", server], options, env)
            except BenchError as error:
                for client in clients:
                    pairs[server, client] = dict.fromkeys(KINDS, str(error))
                continue
            with worker:
                for client in clients:
                    pairs[server, client] = run_pair(server, client, options, env)
    for client in CLIENTS:
        record(results, "clients", client, pairs[FIXED, client])
    for server in SERVERS:
        record(results, "servers", server, pairs[server, FIXED])
    for section, names in (("clients", CLIENTS), ("servers", SERVERS)):
        for kind in KINDS:
            results.ratios(section, f"{FIXED}/{kind}", [f"{who}/{kind}" for who in names])
