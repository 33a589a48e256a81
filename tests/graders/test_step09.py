"""Grader for step 09: the kernel's facts (receive time, sender's credentials) and a sealed memfd.

The bus side is checked with clients that are not the attendee's code: dbus-monitor
for the signals, jeepney (pure Python, fd passing on) for Recent and RecentFd.
"""

from __future__ import annotations

import array
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection

from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import Program, python, send, wait_until

STEP = 9
NAME = "org.example.Incoming"
PATH = "/org/example/Incoming"
ALL_SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
NO_GPIO = ("--gpio", "none:0")  # no edges in between: the signals are exactly ours

# A server that is not the step's: it owns the name and answers RecentFd with bad fds.
FAKE_SERVER = """
import asyncio, fcntl, os, sys
import sdbus
from sdbus import DbusInterfaceCommonAsync, dbus_method_async

kind = sys.argv[1]


class Fake(DbusInterfaceCommonAsync, interface_name="org.example.Incoming"):
    @dbus_method_async(result_signature="h")
    async def recent_fd(self) -> int:
        if kind == "vanish":  # closes its connection before answering
            os._exit(0)
        if kind == "pipe":
            fd, other = os.pipe()
            os.close(other)
        else:
            fd = os.memfd_create("fake", os.MFD_ALLOW_SEALING)
            os.write(fd, b'["x", 1, 2, 3, 4, "y"]\\n')
            if kind == "writable":  # sealed against everything but writing
                seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        asyncio.get_running_loop().call_soon(os.close, fd)
        return fd

    @dbus_method_async(result_signature="ay")
    async def recent(self) -> bytes:
        return b""


async def main():
    bus = sdbus.sd_bus_open_user()
    sdbus.set_default_bus(bus)
    fake = Fake()
    fake.export_to_dbus("/org/example/Incoming")
    await bus.request_name_async("org.example.Incoming", 0)
    print("ready", flush=True)
    await asyncio.get_running_loop().create_future()


asyncio.run(main())
"""


@pytest.fixture
def bus_address(step_env: dict[str, str]) -> str:
    return step_env["DBUS_SESSION_BUS_ADDRESS"]


def call(address: str, method: str) -> object:
    """Call a method of the server with jeepney (fds enabled); its reply's one value."""
    target = DBusAddress(PATH, bus_name=NAME, interface=NAME)
    with open_dbus_connection(bus=address, enable_fds=True) as connection:
        reply = connection.send_and_get_reply(new_method_call(target, method), timeout=20)
    assert reply.header.message_type.name == "method_return", reply.body
    return reply.body[0]


def open_fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def monitor(step_env: dict[str, str], programs: list[Program]) -> Iterator[Program]:
    """dbus-monitor watching MessageFrom, ready (it has become a monitor)."""
    rule = f"type='signal',interface='{NAME}',member='MessageFrom'"
    program = Program(["dbus-monitor", "--session", rule], env=step_env)
    programs.append(program)
    program.expect("member=NameLost")  # its own name, lost as it became a monitor
    yield program


def message_from(monitor: Program) -> tuple[str, int, int, int, int, str]:
    """The next MessageFrom signal dbus-monitor prints, as its six arguments."""
    monitor.expect(r"member=MessageFrom$")
    values: list[Any] = []  # s t u u u s, as dbus-monitor prints them
    for line in monitor.expect_lines(6):
        match = re.fullmatch(r"\s*(string|uint64|uint32) (.*)", line)
        assert match, f"MessageFrom should be (s t u u u s), dbus-monitor printed: {line!r}"
        kind, value = match.groups()
        values.append(value[1:-1] if kind == "string" else int(value))
    source, timestamp_ns, pid, uid, gid, text = values
    return source, timestamp_ns, pid, uid, gid, text


def sender(step: Path, path: Path, lines: bytes, programs: list[Program]) -> Program:
    """The step's sender.py as a process of its own: its pid is the one to expect."""
    program = python(step / "sender.py", path, stdin=subprocess.PIPE)
    programs.append(program)
    assert program.process.stdin is not None
    program.process.stdin.write(lines.decode())
    program.process.stdin.close()
    assert program.wait() == 0, program.stderr
    return program


@pytest.mark.idea
def test_message_from_says_who_sent_it(
    receiver: Start, step: Path, monitor: Program, tmp_path: Path, programs: list[Program]
) -> None:
    path = tmp_path / "load"
    receiver(path, extra=NO_GPIO)
    first = sender(step, path, b"from the first\n", programs)
    second = sender(step, path, b"from the second\n", programs)
    assert first.pid != second.pid
    for program, text in ((first, "from the first"), (second, "from the second")):
        source, _, pid, uid, gid, said = message_from(monitor)
        assert (source, said) == (str(path), text), f"why: MessageFrom said {said!r} for {text!r}"
        assert pid == program.pid, (
            f"why: MessageFrom says pid {pid}, not the sender's ({program.pid}): ask the kernel"
            " who sent each datagram (SO_PASSCRED, then SCM_CREDENTIALS from recvmsg())"
        )
        assert (uid, gid) == (os.getuid(), os.getgid()), "why: not the sender's uid and gid"


@pytest.mark.idea
def test_timestamp_is_the_kernels_not_the_servers(
    receiver: Start, monitor: Program, tmp_path: Path
) -> None:
    path = tmp_path / "load"
    server = receiver(path, extra=NO_GPIO)
    server.signal(signal.SIGSTOP)  # frozen: it cannot look at a clock until SIGCONT
    try:
        before = time.time_ns()
        send(path, b"sent while the server was stopped")
        after = time.time_ns()
        time.sleep(0.2)  # not a wait for anything: the gap a server-side clock would show
        resumed = time.time_ns()
    finally:
        server.signal(signal.SIGCONT)
    _, timestamp_ns, *_, text = message_from(monitor)
    assert text == "sent while the server was stopped", f"why: MessageFrom said {text!r}"
    assert timestamp_ns >= before, "why: the timestamp is from before the datagram was sent"
    assert timestamp_ns <= after < resumed, (
        f"why: the timestamp is {(timestamp_ns - after) / 1e6:.0f} ms after the datagram was sent:"
        " the server's own clock, not the kernel's receive time (SO_TIMESTAMPNS)"
    )


@pytest.mark.idea
def test_recent_fd_is_a_sealed_memfd_with_the_bytes_of_recent(
    receiver: Start, bus_address: str, tmp_path: Path
) -> None:
    path = tmp_path / "load"
    server = receiver(path, extra=NO_GPIO)
    send(path, *(f"reading {n}".encode() for n in range(50)))
    server.expect(r": reading 49$")
    fds = open_fds()
    descriptor = call(bus_address, "RecentFd")
    fd = descriptor.to_raw_fd()  # type: ignore[attr-defined]
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
        assert target.startswith("/memfd:"), f"why: RecentFd handed over {target}, not a memfd"
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        assert seals & ALL_SEALS == ALL_SEALS, (
            f"why: RecentFd's memfd has seals {seals:#x}: seal it against write, shrink, grow"
            " and seal (F_ADD_SEALS) before handing it over, or the client cannot trust it"
        )
        snapshot = os.pread(fd, os.fstat(fd).st_size + 1, 0)
    finally:
        os.close(fd)
    assert open_fds() == fds, "the test's own fds leaked"
    assert snapshot == call(bus_address, "Recent"), "why: RecentFd's bytes and Recent's differ"
    rows = [json.loads(line) for line in snapshot.splitlines()]
    assert [row[5] for row in rows] == [f"reading {n}" for n in range(50)]
    for source, timestamp_ns, pid, uid, gid, _ in rows:
        assert (source, pid, uid, gid) == (str(path), os.getpid(), os.getuid(), os.getgid())
        assert timestamp_ns > 0


@pytest.mark.idea
def test_client_prints_who_sent_what_and_the_latency(
    receiver: Start, step: Path, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    path = tmp_path / "load"
    receiver(path, extra=("--gpio", "sim"))
    env = {key: value for key, value in step_env.items() if key != "DISPLAY"}
    plot = python(step / "client.py", "--save", tmp_path / "plot.png", "--seconds", "30", env=env)
    programs.append(plot)
    plot.expect(r"^simulated:0: (rising|falling) .*no process")  # subscribed, and edges say so
    who = sender(step, path, b"0.5\n", programs)
    line = plot.expect(rf"^{path}: 0\.5  \(from pid (\d+), uid (\d+), gid (\d+); ([\d.]+) ms ")
    assert int(line.group(1)) == who.pid
    assert (int(line.group(2)), int(line.group(3))) == (os.getuid(), os.getgid())
    assert float(line.group(4)) >= 0
    plot.signal(signal.SIGINT)
    assert plot.wait() == 0


@pytest.mark.idea
def test_snapshot_reads_the_memfd(
    receiver: Start, step: Path, step_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "load"
    server = receiver(path, extra=NO_GPIO)
    send(path, b"one", b"two", b"three")
    server.expect(r": three$")
    snapshot = python(step / "snapshot.py", "--last", "2", env=step_env)
    assert snapshot.wait() == 0, snapshot.stderr
    assert re.fullmatch(r"3 recent messages, \d+ bytes", snapshot.stdout[0]), snapshot.stdout
    assert "seals: write, shrink, grow, seal" in snapshot.stdout[1]
    assert "the same bytes" in snapshot.stdout[2]
    me = f"(pid {os.getpid()}, uid {os.getuid()}, gid {os.getgid()})"
    assert snapshot.stdout[3].endswith(f"{path}: two  {me}"), snapshot.stdout
    assert snapshot.stdout[4].endswith(f"{path}: three  {me}"), snapshot.stdout


def test_message_is_unchanged_beside_message_from(
    receiver: Start, step_env: dict[str, str], tmp_path: Path
) -> None:
    receiver(tmp_path / "load", extra=NO_GPIO)
    introspection = subprocess.run(
        ["busctl", "--user", "introspect", NAME, PATH, NAME],
        env=step_env, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    assert re.search(r"\.Message\s+signal\s+sts\s", introspection), introspection
    assert re.search(r"\.MessageFrom\s+signal\s+stuuus\s", introspection), introspection
    assert re.search(r"\.Recent\s+method\s+-\s+ay\s", introspection), introspection
    assert re.search(r"\.RecentFd\s+method\s+-\s+h\s", introspection), introspection


def test_file_descriptors_sent_with_a_datagram_are_refused_not_kept(
    receiver: Start, tmp_path: Path
) -> None:
    path = tmp_path / "load"
    server = receiver(path, extra=NO_GPIO)
    send(path, b"warm-up")
    server.expect(r": warm-up$")
    fds = open_fds(server.pid)
    read_end, write_end = os.pipe()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            fds_bytes = array.array("i", [read_end, write_end]).tobytes()
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds_bytes)]
            for n in range(20):
                sock.sendmsg([f"with fds {n}".encode()], rights, 0, str(path))
    finally:
        os.close(read_end)
        os.close(write_end)
    server.expect(r": \(extra ancillary data refused\) with fds 0$")
    server.expect(r": \(extra ancillary data refused\) with fds 19$")
    send(path, b"still fine")
    server.expect(rf"^{path}: still fine$")
    assert open_fds(server.pid) == fds, "the server kept file descriptors a peer sent"


def test_recent_fd_leaks_nothing_even_when_the_caller_leaves_early(
    receiver: Start, bus_address: str, tmp_path: Path
) -> None:
    path = tmp_path / "load"
    server = receiver(path, extra=NO_GPIO)
    send(path, b"something to snapshot")
    server.expect(r": something to snapshot$")
    call(bus_address, "RecentFd").close()  # type: ignore[attr-defined]
    # The server closes its memfd on the loop's next turn, after the reply went out: a later
    # call answered means that turn is over, so the count below holds no call's leftovers.
    call(bus_address, "Recent")
    fds = open_fds(server.pid)
    target = DBusAddress(PATH, bus_name=NAME, interface=NAME)
    for _ in range(10):  # callers that hang up without waiting for the answer
        with open_dbus_connection(bus=bus_address, enable_fds=True) as connection:
            connection.send(new_method_call(target, "RecentFd"))
    for _ in range(20):
        call(bus_address, "RecentFd").close()  # type: ignore[attr-defined]
    wait_until(lambda: open_fds(server.pid) == fds, f"the server's fds back to {fds}")
    send(path, b"still serving")
    server.expect(rf"^{path}: still serving$")


@pytest.fixture
def fake_server(step_env: dict[str, str], programs: list[Program]) -> Callable[[str], Program]:
    def start(kind: str) -> Program:
        program = Program([sys.executable, "-c", FAKE_SERVER, kind], env=step_env)
        programs.append(program)
        program.expect("^ready$")
        return program

    return start


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("unsealed", r"not sealed against: write, shrink, grow, seal"),
        ("writable", r"not sealed against: write$"),
        ("pipe", r"not a memfd but pipe:\[\d+\]"),
        ("vanish", r"did not answer"),
    ],
)
def test_snapshot_refuses_a_bad_fd_in_one_line(
    fake_server: Callable[[str], Program],
    step: Path,
    step_env: dict[str, str],
    kind: str,
    why: str,
) -> None:
    fake_server(kind)
    snapshot = python(step / "snapshot.py", env=step_env)
    assert snapshot.wait() != 0
    assert len(snapshot.stderr) == 1, snapshot.stderr
    assert re.search(why, snapshot.stderr[0]), snapshot.stderr
    assert snapshot.stdout == []


def test_snapshot_without_a_server_says_so(step: Path, step_env: dict[str, str]) -> None:
    snapshot = python(step / "snapshot.py", env=step_env)
    assert snapshot.wait() != 0
    assert len(snapshot.stderr) == 1 and "not on the bus" in snapshot.stderr[0], snapshot.stderr
