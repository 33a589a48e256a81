"""A greedy caller: 1 000 RecentFd calls whose replies it never reads (step 11's server).

Every reply waits in the dbus-daemon, with its memfd, for as long as that connection
stays open. Sealed memfds are shareable, so the server hands every caller the same one
until the history changes: what the greedy caller pins is one snapshot, not a thousand.
And the bus's own limits (the private system bus's config, like system.conf) bound what
one connection may have queued, so everyone else's calls still get through.

Measured: Shmem: in /proc/meminfo (memfds live there) before and while the replies are
pending, and that another caller's GetIncoming is answered meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.helpers import Program, send
from tools import bus, other_users, system_bus, table

STEP = table.get(11).folder(table.ROOT / "steps")
GREEDY = Path(__file__).with_name("greedy_caller.py")
CALLS = 1000
PIN_LIMIT = 64 * 1024 * 1024  # bytes of shared memory the greedy caller may pin
ANSWER_WITHIN = 2.0  # seconds: a generous bound; before the fix, calls timed out


def shmem() -> int:
    """Bytes of shared memory in use on the machine (memfds count here)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no Shmem: in /proc/meminfo")


async def get_incoming_latencies(address: str, times: int) -> list[float]:
    """Seconds each GetIncoming took, from a caller of our own; inf: not answered in time."""
    connection = await MessageBus(bus_address=address).connect()
    latencies = []
    try:
        for _ in range(times):
            start = time.monotonic()
            call = Message(
                destination="org.example.Incoming",
                path="/org/example/Incoming",
                interface="org.example.Incoming",
                member="GetIncoming",
            )
            try:
                reply = await asyncio.wait_for(connection.call(call), ANSWER_WITHIN)
            except TimeoutError:
                latencies.append(float("inf"))
                continue
            latencies.append(time.monotonic() - start)
            assert reply is not None and reply.message_type == MessageType.METHOD_RETURN, reply
    finally:
        connection.disconnect()
    return latencies


def fill_history(server: Program, socket_path: Path) -> None:
    """1 000 odd datagrams of 1 KiB (not UTF-8: each is shown as a 4 KiB repr)."""
    for n in range(CALLS):
        send(socket_path, bytes([0xFF]) * 1020 + b"%04d" % n)
    server.expect(r"'\\xff\\xff.*0999'\)?$")


def keep_sending(path: Path, flowing: threading.Event) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        n = 0
        while flowing.is_set():
            sock.sendto(bytes([0xFF]) * 1020 + b"%04d" % (n % 10000), str(path))  # as big
            n += 1
            flowing.wait(0.001)  # a datagram a millisecond (the rate, not a synchronisation)


def measure(
    server: Program,
    python: list[str],
    script: Path,
    env: dict[str, str],
    address: str,
    flow: Path | None = None,
) -> None:
    """Start the greedy caller, then call GetIncoming behind it and see what it pinned.

    flow: a socket to send a datagram to every millisecond meanwhile, so that the history
    changes between the greedy calls and each one may get a snapshot of its own.
    """
    before = shmem()
    flowing = threading.Event()
    if flow is not None:
        flowing.set()
        threading.Thread(target=keep_sending, args=(flow, flowing), daemon=True).start()
    caller = Program([*python, script, address, str(CALLS)], env=env, stdin=subprocess.PIPE)
    caller.expect(rf"^sent {CALLS}$")
    try:
        latencies = asyncio.run(get_incoming_latencies(address, 5))  # behind the greedy calls
        # the machine's Shmem: moves with other programs too (a browser...): the least of a few
        pinned = min(shmem() for _ in range(5)) - before
        said = (
            f"{CALLS} RecentFd never read: {pinned / 2**20:.1f} MiB pinned; GetIncoming meanwhile:"
            f" {', '.join(f'{each * 1000:.0f}' for each in latencies)} ms"
        )
        print(said)
        assert max(latencies) < ANSWER_WITHIN, said
        assert pinned <= PIN_LIMIT, said
        assert server.process.poll() is None, "the server died"
    finally:
        flowing.clear()
        assert caller.process.stdin is not None
        caller.process.stdin.close()
        caller.wait()


def test_greedy_caller_on_the_session_bus(tmp_path: Path, programs: list[Program]) -> None:
    with bus.private_bus(tmp_path / "bus") as private:
        server = Program(
            [sys.executable, "receiver.py", tmp_path / "load", "--gpio", "none:0"],
            cwd=other_users.stage(STEP), env=private.env,
        )  # fmt: skip
        programs.append(server)
        server.expect(r"^on the bus as org\.example\.Incoming$", timeout=60)
        fill_history(server, tmp_path / "load")
        measure(server, [sys.executable], GREEDY, private.env, private.address)


@pytest.mark.skipif(os.geteuid() != 0, reason="the private system bus needs root")
@pytest.mark.parametrize("flowing", [False, True], ids=["still", "flowing"])
def test_greedy_unprivileged_caller_on_the_system_bus(
    flowing: bool, programs: list[Program]
) -> None:
    try:
        system_bus.check()
    except system_bus.Unavailable as why:
        pytest.skip(str(why))
    with system_bus.start(other_users.stage(STEP)) as system:
        run = system.folder_for(system_bus.SERVICE_USER)
        prefix, env = system.python_as(system_bus.SERVICE_USER)
        server = Program(
            [*prefix, "receiver.py", "--bus", "system", run / "load", "--gpio", "none:0"],
            cwd=other_users.stage(STEP), env=env,
        )  # fmt: skip
        programs.append(server)
        server.expect(r"^on the bus as org\.example\.Incoming$", timeout=60)
        fill_history(server, run / "load")
        script = system.folder / GREEDY.name  # where the viewer can read it
        shutil.copy(GREEDY, script)
        script.chmod(0o644)
        viewer, viewer_env = system.python_as(system_bus.VIEWER)
        measure(
            server, viewer, script, viewer_env, system.address, run / "load" if flowing else None
        )
