"""Grader for step 06: the receiver as an sd-bus server on a real (private) dbus-daemon.

The client side here is never the attendee's code: busctl, gdbus and dbus-monitor
(no Python at all) and tests/dbus_listen.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.graders import kernel
from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import TIMEOUT, Program, python, send, wait_until
from tools import can_sim

STEP = 6
CALL = ["org.example.Incoming", "/org/example/Incoming", "org.example.Incoming"]


def busctl(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        ["busctl", "--user", *args], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def listener(env: dict[str, str], programs: list[Program], *args: str) -> Program:
    program = Program([sys.executable, "-m", "tests.dbus_listen", *args], env=env)
    programs.append(program)
    program.expect("^subscribed$")
    return program


@pytest.mark.idea
def test_one_loop_waits_for_the_sockets_and_the_bus(receiver: Start, tmp_path: Path) -> None:
    """The bus connection is one more fd of the one event loop (python-sdbus registers it
    with asyncio): no thread of its own for the bus, no timer polling it."""
    paths = [tmp_path / "load", tmp_path / "sine"]
    program = receiver(*paths, extra=("--gpio", "none:0"))
    send(paths[0], b"warm-up")  # whatever one message starts (a thread?) is there once idle
    sources = {path.name: kernel.socket_fds(program.pid, path) for path in paths}
    ours = {fd for fds in sources.values() for fd in fds}
    targets = kernel.fd_targets(program.pid)
    sources["the bus connection"] = [
        fd for fd, what in targets.items() if what.startswith("socket:") and fd not in ours
    ]
    why = kernel.loop_verdict(program.pid, sources)
    assert not why, why


@pytest.mark.idea
def test_get_incoming_lists_the_sources(
    receiver: Start, step_env: dict[str, str], tmp_path: Path
) -> None:
    paths = [tmp_path / "load", tmp_path / "sine"]
    receiver(*paths, extra=("--gpio", "sim"))
    reply = busctl(step_env, "call", *CALL, "GetIncoming")
    assert reply.split(" ", 2)[:2] == ["as", "3"], (
        f"why: GetIncoming() answered {reply!r}, not 3 names"
    )
    assert re.findall(r'"([^"]*)"', reply) == [str(paths[0]), str(paths[1]), "simulated:0"]


def signals_until(listening: Program, program: Program, path: Path, marker: str) -> list[list[str]]:
    """The listener's signals up to ours for a last datagram, marker: what came before it.

    One connection's messages keep their order on the bus, so once the marker's signal is
    in, every signal the server emitted before it is in too: no waiting for a timeout.
    """
    send(path, marker.encode())
    program.expect(rf": {marker}$", what=f"the receiver's line for the datagram {marker!r}")
    listening.expect(
        rf"\t{marker}$",
        what=f"a Message signal for the datagram {marker!r} (emit one for each datagram)",
    )
    rows = [line.split("\t") for line in listening.stdout[1:]]
    return rows[: next(n for n, row in enumerate(rows) if row[-1] == marker)]


@pytest.mark.idea
def test_one_message_signal_per_datagram_none_lost(
    receiver: Start, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    count = 10_000
    path = tmp_path / "load"
    listening = listener(step_env, programs)
    program = receiver(path, extra=("--gpio", "none:0"))  # no GPIO edges in between
    before = time.time_ns()
    send(path, *(f"{n}".encode() for n in range(count)))  # as fast as the socket takes them
    rows = signals_until(listening, program, path, "end")
    after = time.time_ns()
    assert len(rows) == count, (
        f"why: {len(rows)} Message signals for {count} datagrams: emit one for each, and"
        " see that none is held back in sd-bus's queue (interface.py's publish())"
    )
    texts = [text for _, _, text in rows]
    assert texts == [str(n) for n in range(count)], "why: the signals are out of order"
    assert {source for source, _, _ in rows} == {str(path)}, (
        "why: a signal's source is not the socket's name"
    )
    stamps = [int(stamp) for _, stamp, _ in rows]
    assert before <= stamps[0] and stamps == sorted(stamps) and stamps[-1] <= after, (
        "why: the timestamps are not the receive times (time.time_ns(), in order)"
    )


@pytest.mark.idea
def test_gpio_edges_are_signals_too(
    receiver: Start, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    path = tmp_path / "load"
    listening = listener(step_env, programs)
    program = receiver(path, extra=("--gpio", "sim"))
    for _ in range(2):
        program.expect(r"^simulated:0: (rising|falling) ", what="a line for a GPIO edge")
    edges = [row for row in signals_until(listening, program, path, "after") if row[0] != str(path)]
    assert [source for source, _, _ in edges][:2] == ["simulated:0"] * 2, (
        f"why: {len(edges)} Message signals for the 2 GPIO edges the receiver printed: emit"
        " Message for each edge too (source simulated:0, text rising or falling)"
    )
    assert {text for _, _, text in edges[:2]} == {"rising", "falling"}, (
        f"why: the edges' signals say {[text for _, _, text in edges]}, not rising and falling"
    )


def test_introspectable_and_callable_without_python(
    receiver: Start, step_env: dict[str, str], tmp_path: Path
) -> None:
    receiver(tmp_path / "load", extra=("--gpio", "none:0"))
    introspection = busctl(step_env, "introspect", *CALL)
    assert re.search(r"\.GetIncoming\s+method\s+-\s+as", introspection), introspection
    assert re.search(r"\.Message\s+signal\s+sts\s", introspection), introspection
    gdbus = subprocess.run(
        ["gdbus", "call", "--session", "--dest", CALL[0], "--object-path", CALL[1],
         "--method", "org.example.Incoming.GetIncoming"],
        env=step_env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert gdbus.returncode == 0 and str(tmp_path / "load") in gdbus.stdout, gdbus.stderr


def test_dbus_monitor_sees_the_signals(
    receiver: Start, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    path = tmp_path / "load"
    receiver(path, extra=("--gpio", "none:0"))
    monitor = Program(["dbus-monitor", "--session", "interface='org.example.Incoming'"],
                      env=step_env)  # fmt: skip
    programs.append(monitor)
    monitor.expect("member=NameLost")  # its own name, lost as it became a monitor: it is ready
    send(path, b"seen by dbus-monitor")
    monitor.expect(r"member=Message")
    monitor.expect(rf'string "{path}"')
    monitor.expect(r"uint64 \d+")
    monitor.expect(r'string "seen by dbus-monitor"')


def test_name_taken_is_a_clear_error(
    receiver: Start, step: Path, step_env: dict[str, str], tmp_path: Path
) -> None:
    receiver(tmp_path / "first")
    second = python(step / "receiver.py", tmp_path / "second", env=step_env)
    assert second.wait() != 0
    assert len(second.stderr) == 1 and "taken" in second.stderr[0], second.stderr
    assert not (tmp_path / "second").exists()


def test_no_bus_is_a_clear_error(step: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    program = python(step / "receiver.py", tmp_path / "load", env=env)
    assert program.wait() != 0
    assert len(program.stderr) == 1, program.stderr
    assert "no D-Bus session bus" in program.stderr[0] and "make bus" in program.stderr[0]


def test_stop_leaves_the_bus(receiver: Start, step_env: dict[str, str], tmp_path: Path) -> None:
    program = receiver(tmp_path / "load")
    assert "org.example.Incoming" in busctl(step_env, "list", "--no-pager")
    program.signal(2)
    assert program.wait() == 0
    wait_until(lambda: "org.example.Incoming" not in busctl(step_env, "list", "--no-pager"),
               "the name to be released")  # fmt: skip


def test_can_frames_are_signals_in_order_and_listed(
    receiver: Start, step_env: dict[str, str], vcan: str, tmp_path: Path, programs: list[Program]
) -> None:
    count = 1000
    path = tmp_path / "load"
    listening = listener(step_env, programs, "--count", str(count))
    program = receiver(path, extra=("--gpio", "none:0", "--can", vcan))  # no edges in between
    reply = busctl(step_env, "call", *CALL, "GetIncoming")
    assert re.findall(r'"([^"]*)"', reply) == [str(path), vcan], reply  # the socket is bound
    before = time.time_ns()
    can_sim.send(can_sim.burst(count), vcan)
    listening.wait(timeout=TIMEOUT * 6)
    rows = [line.split("\t") for line in listening.stdout[1:]]
    assert len(rows) == count, f"{len(rows)} signals for {count} frames"
    assert [text for _, _, text in rows] == [f"123#{n:08X}" for n in range(count)]
    assert {source for source, _, _ in rows} == {vcan}
    stamps = [int(stamp) for _, stamp, _ in rows]
    assert before <= stamps[0] and stamps == sorted(stamps)
    program.expect(rf"^{vcan}: 123#{count - 1:08X}$")  # and the lines, as in step 05
