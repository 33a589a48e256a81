"""One process of the benchmark: a peer server or client, or a raw-socket end.

    python -m tools.bench.worker server LIB           serve org.example.Bench with LIB
    python -m tools.bench.worker client LIB           answer JSON commands on stdin
    python -m tools.bench.worker raw-recv MODE PATH COUNT ROUNDS
    python -m tools.bench.worker raw-send PATH TOTAL
    python -m tools.bench.worker raw-echo PATH
    python -m tools.bench.worker raw-ping PATH SERVER COUNT ROUNDS
    python -m tools.bench.worker pipe-client NAME     Message signals of org.example.Incoming
    python -m tools.bench.worker pipe-send PATH FIRST COUNT RATE

Every worker prints one JSON line when ready (or {"error": ...}) and one per result.
Started by tools.bench, not by hand.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from tools.bench.report_ready import ready

LIBS = {
    "sdbus": ("tools.bench.peer_sdbus", "Client"),
    "sdbus-blocking": ("tools.bench.peer_sdbus", "BlockingClient"),
    "dbus-fast": ("tools.bench.peer_dbus_fast", "Client"),
    "jeepney": ("tools.bench.peer_jeepney", "Client"),
    "dbus-python": ("tools.bench.peer_dbus_python", "Client"),
}


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def load(lib: str) -> Any:
    module, _ = LIBS[lib]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        say(error=f"{lib} is not installed ({error.name}): make bench-setup")
        sys.exit(1)


def server(lib: str) -> None:
    load(lib).serve()


def client(lib: str) -> None:
    module = load(lib)
    peer = getattr(module, LIBS[lib][1])()
    if peer.has_signals:  # make sure our match rule is in place before anything is measured
        for _ in range(50):
            if peer.signals(1, 0.2)[1]:
                break
    ready(max_inflight=peer.max_inflight, signals=peer.has_signals)
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["op"] == "calls":
                elapsed = peer.calls(command["n"], command["inflight"])
                say(elapsed=elapsed, n=command["n"])
            elif command["op"] == "signals":
                elapsed, received = peer.signals(command["n"], command["timeout"])
                say(elapsed=elapsed, n=command["n"], received=received)
        except Exception as error:  # the orchestrator reports it as a skipped figure
            say(error=f"{type(error).__name__}: {error}")


# --- raw AF_UNIX datagrams: the physical limit ---


def bind(path: str) -> socket.socket:
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    return sock


def raw_recv(mode: str, path: str, count: int, rounds: int) -> None:
    """Receive 1 + rounds*count datagrams; the clock starts at the first one."""
    sock = bind(path)
    ends: list[float] = []
    if mode == "blocking":
        ready()
        sock.recv(64)
        ends.append(time.perf_counter())
        for _ in range(rounds):
            for _ in range(count):
                sock.recv(64)
            ends.append(time.perf_counter())
    else:
        sock.setblocking(False)
        asyncio.run(_raw_recv_async(mode, sock, count, rounds, ends))
    say(rounds=[b - a for a, b in zip(ends, ends[1:], strict=False)], count=count)


async def _raw_recv_async(
    mode: str, sock: socket.socket, count: int, rounds: int, ends: list[float]
) -> None:
    loop = asyncio.get_running_loop()
    total = 1 + rounds * count
    if mode == "sock_recv":  # one await per datagram: the loop's convenience API
        ready()
        for i in range(total):
            await loop.sock_recv(sock, 64)
            if i % count == 0:
                ends.append(time.perf_counter())
        return
    # mode "reader": a callback when readable, draining the socket until EAGAIN
    done = loop.create_future()
    received = 0

    def drain() -> None:
        nonlocal received
        while True:
            try:
                sock.recv(64)
            except BlockingIOError:
                return
            if received % count == 0:
                ends.append(time.perf_counter())
            received += 1
            if received == total:
                loop.remove_reader(sock.fileno())
                done.set_result(None)
                return

    loop.add_reader(sock.fileno(), drain)
    ready()
    await done


def raw_send(path: str, total: int) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.connect(path)
    ready()
    for seq in range(total):
        sock.send(b"%d" % seq)
    say(sent=total)


def raw_echo(path: str) -> None:
    sock = bind(path)
    ready()
    while True:
        data, peer = sock.recvfrom(64)
        sock.sendto(data, peer)


def raw_ping(path: str, server_path: str, count: int, rounds: int) -> None:
    sock = bind(path)
    sock.connect(server_path)
    ready()
    elapsed = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            sock.send(b"ping")
            sock.recv(64)
        elapsed.append(time.perf_counter() - start)
    say(rounds=elapsed, count=count)


# --- the steps' pipeline: datagram -> a step's server -> Message signal -> us ---


def pipe_send(path: str, first: int, count: int, rate: float) -> None:
    """count datagrams 'SEQ SEND_NS' (CLOCK_MONOTONIC), flat out (rate 0) or paced."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.connect(path)
    ready()
    start = time.monotonic()
    for i in range(count):
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the offered rate, not waiting for an event
        sock.send(b"%d %d" % (first + i, time.monotonic_ns()))
    say(sent=count)


def all_seen(seen: dict[int, Any], wanted: range) -> bool:
    return all(sequence in seen for sequence in wanted)


def pipe_client(name: str) -> None:
    import sdbus
    from sdbus import DbusInterfaceCommonAsync, dbus_method_async, dbus_signal_async

    class Incoming(DbusInterfaceCommonAsync, interface_name="org.example.Incoming"):
        @dbus_method_async(result_signature="as")
        async def get_incoming(self) -> list[str]:
            raise NotImplementedError

        @dbus_signal_async("sts")
        def message(self) -> tuple[str, int, str]:
            raise NotImplementedError

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sdbus.set_default_bus(sdbus.sd_bus_open_user())
    proxy = Incoming.new_proxy("org.example.Incoming", "/org/example/Incoming")
    seen: dict[int, int] = {}  # seq -> latency in ns
    first_sent: dict[int, int] = {}
    wake: list[Callable[[], None]] = []
    probes = [0]  # probe datagrams seen since last asked
    last_ns = 0

    async def listen() -> None:
        nonlocal last_ns
        async for source, _timestamp, text in proxy.message:
            if name not in source:
                continue
            now = time.monotonic_ns()
            parts = text.split()
            if len(parts) == 2 and parts[0].isdigit():
                seq, sent = int(parts[0]), int(parts[1])
                seen[seq] = now - sent
                first_sent[seq] = sent
                last_ns = now
            else:
                probes[0] += 1
            for callback in wake:
                callback()

    async def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until condition() holds after a signal, or timeout seconds without one."""
        while not condition():
            event = asyncio.Event()
            wake.append(event.set)
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                return condition()
            finally:
                wake.remove(event.set)
        return True

    listener = loop.create_task(listen())
    sources = loop.run_until_complete(proxy.get_incoming())
    ready(sources=sources)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "probe":  # has a probe datagram come through since last asked?
            loop.run_until_complete(wait_for(lambda: probes[0] > 0, command["timeout"]))
            say(seen=probes[0] > 0)
            probes[0] = 0
        elif command["op"] == "collect":
            first, count = command["first"], command["count"]
            wanted = range(first, first + count)
            loop.run_until_complete(
                wait_for(functools.partial(all_seen, seen, wanted), command["timeout"])
            )
            got = [seen[s] for s in wanted if s in seen]
            start = first_sent.get(first)
            say(
                received=len(got),
                missing=count - len(got),
                elapsed=(last_ns - start) / 1e9 if start else 0.0,
                latencies_us=sorted(ns / 1000 for ns in got),
            )
            seen.clear()
            first_sent.clear()
    listener.cancel()


# --- dbus-broker without systemd (run inside a private mount namespace by broker.py) ---


def journal(path: str) -> None:
    """A stand-in for the journal socket dbus-broker-launch logs to, then the launcher."""
    import signal
    import subprocess
    import threading

    os.makedirs("/run/systemd/journal", exist_ok=True)  # on the namespace's own tmpfs
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind("/run/systemd/journal/socket")
    threading.Thread(target=lambda: [log.recv(65536) for _ in iter(int, 1)], daemon=True).start()
    launcher = subprocess.Popen(
        [
            "systemd-socket-activate",
            "--listen",
            path,
            "--setenv",
            f"DBUS_SESSION_BUS_ADDRESS=unix:path={path}",  # the launcher talks to its broker
            "dbus-broker-launch",
            "--scope",
            "user",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: launcher.terminate())
    assert launcher.stderr is not None
    for line in launcher.stderr:  # "Listening on PATH as 3." once the socket is there
        if line.startswith("Listening on"):
            ready(launcher=launcher.pid)
            break
    else:
        say(error=f"systemd-socket-activate exited with status {launcher.wait()}")
        return
    for _line in launcher.stderr:  # keep draining its warnings
        pass
    launcher.wait()


def main(argv: list[str]) -> None:
    kind, args = argv[0], argv[1:]
    if kind == "server":
        server(args[0])
    elif kind == "client":
        client(args[0])
    elif kind == "raw-recv":
        raw_recv(args[0], args[1], int(args[2]), int(args[3]))
    elif kind == "raw-send":
        raw_send(args[0], int(args[1]))
    elif kind == "raw-echo":
        raw_echo(args[0])
    elif kind == "raw-ping":
        raw_ping(args[0], args[1], int(args[2]), int(args[3]))
    elif kind == "pipe-send":
        pipe_send(args[0], int(args[1]), int(args[2]), float(args[3]))
    elif kind == "pipe-client":
        pipe_client(args[0])
    elif kind == "journal":
        journal(args[0])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
