"""Grader for step 10: one wakeup, many datagrams (the server's fast path).

The idea is seen from the kernel's side: the server runs under `strace -p` while a
burst waits in its socket (sent while the server was stopped with SIGSTOP, so it is
all there at the first wakeup). One epoll_wait must be followed by several recvmsg
on that socket, the burst's lines must leave in fewer writes than lines, and the bus
must be flushed (bus.process(): a recvmsg on the bus socket that says EAGAIN) once
per batch, not once per datagram. And the cap: with each recvmsg slowed by strace, a
flood never lets the socket run dry, and no wakeup may read more than CAP of it. The
rest is behaviour: nothing is lost, and the D-Bus API is step 09's.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.graders.test_step06 import listener
from tests.helpers import Program, python, send, wait_until

STEP = 10
NAME = "org.example.Incoming"
PATH = "/org/example/Incoming"
NO_GPIO = ("--gpio", "none:0")  # nothing else wakes the server: the trace is ours alone
BURST = 8  # datagrams queued while the server is stopped (Linux queues at least 10)
SLOW_FLOOD = 1500  # datagrams the senders push into one socket, the server slowed down
FLOODERS = 3  # senders, each blocked on the full socket until the server reads one
SLOWER = 1000  # microseconds strace adds to each of the server's recvmsg
CAP = 500  # datagrams one wakeup may read: "at most a few hundred" (the step's BATCH: 64)

CALL = re.compile(r"^(?:\d+ +)?(\w+)\((\d+)<([^>]*)>(.*) = (-?\d+)(?: (E[A-Z]+))?")


@dataclass
class Batches:
    """What the server did between its wakeups, from strace's lines."""

    received: list[int] = field(default_factory=list)  # datagrams after each epoll_wait
    writes: int = 0  # write() calls carrying the burst's lines
    flushes: int = 0  # recvmsg on the bus socket that said EAGAIN: bus.process()


def batches(trace: str, path: Path) -> Batches:
    found = Batches()
    for line in trace.splitlines():
        call = CALL.match(line)
        if call is None:
            continue
        name, _fd, what, rest, result, error = call.groups()
        if name.startswith("epoll"):
            found.received.append(0)
        elif name == "recvmsg" and str(path) in what and int(result) >= 0 and found.received:
            found.received[-1] += 1
        elif name == "recvmsg" and str(path) not in what and error == "EAGAIN":
            found.flushes += 1  # the only other socket it reads is the bus
        elif name == "write" and "burst" in rest:
            found.writes += 1
    return found


def traced(pid: int) -> bool:
    """Is every thread of pid attached by a tracer?"""
    for task in Path(f"/proc/{pid}/task").iterdir():
        if re.search(r"^TracerPid:\s+0$", (task / "status").read_text(), re.MULTILINE):
            return False
    return True


@pytest.mark.idea
def test_one_wakeup_drains_a_burst_in_one_write_and_one_flush(
    receiver: Start, tmp_path: Path, programs: list[Program]
) -> None:
    if shutil.which("strace") is None:
        pytest.fail("this test watches the server with strace: install it (make setup says how)")
    path = tmp_path / "load"
    server = receiver(path, extra=NO_GPIO)
    send(path, b"warm-up")
    server.expect(r": warm-up$")
    trace = tmp_path / "trace"
    argv = ["strace", "-f", "-qq", "-yy", "-s", "200", "-o", str(trace), "-p", str(server.pid)]
    strace = Program([*argv, "-e", "trace=epoll_wait,epoll_pwait,recvmsg,write"])
    programs.append(strace)
    wait_until(lambda: traced(server.pid), "strace to attach to the server")
    server.signal(signal.SIGSTOP)  # the burst arrives while the server cannot look
    try:
        send(path, *(f"burst {n}".encode() for n in range(BURST)))
    finally:
        server.signal(signal.SIGCONT)
    server.expect(rf"^{path}: burst {BURST - 1}$")
    send(path, b"after")  # its wakeup comes after the burst's batch is done, flush and all
    server.expect(rf"^{path}: after$")
    strace.signal(signal.SIGINT)  # detaches; the server goes on
    assert strace.wait() in (0, -signal.SIGINT), strace.stderr
    found = batches(trace.read_text(), path)
    assert max(found.received, default=0) > 1, (
        f"why: datagrams received per wakeup: {found.received}: each epoll_wait was followed by one"
        " recvmsg; drain the socket instead: recvmsg(..., MSG_DONTWAIT) until BlockingIOError"
    )
    assert 0 < found.writes < BURST, (
        f"why: {BURST} lines took {found.writes} writes: collect a batch's lines,"
        " write them at once"
    )
    assert 0 < found.flushes < BURST, (
        f"why: {found.flushes} bus flushes for {BURST} datagrams: publish(..., flush=False)"
        " for each, then flush_bus() once per batch (and never not at all: sd-bus may hold"
        " signals back)"
    )


@pytest.mark.idea
def test_a_flood_is_read_in_capped_batches(
    receiver: Start, step: Path, tmp_path: Path, programs: list[Program]
) -> None:
    """However long a flood lasts, one wakeup reads at most a cap of it (BATCH).

    Deterministic, whoever wins the CPU: strace slows each of the server's recvmsg by
    SLOWER microseconds (fault injection, delay_exit), so senders blocked on the full
    socket (net.unix.max_dgram_qlen is only ~10) refill it long before it runs dry, and
    a drain without a cap never sees EAGAIN: it reads the whole flood in one wakeup.
    """
    if shutil.which("strace") is None:
        pytest.fail("this test watches the server with strace: install it (make setup says how)")
    path = tmp_path / "load"
    server = receiver(path, extra=NO_GPIO)
    send(path, b"warm-up")
    server.expect(r": warm-up$")
    trace = tmp_path / "trace"
    argv = ["strace", "-f", "-qq", "-yy", "-o", str(trace), "-p", str(server.pid)]
    strace = Program([*argv, "-e", "trace=epoll_wait,epoll_pwait,recvmsg",
                      "-e", f"inject=recvmsg:delay_exit={SLOWER}"])  # fmt: skip
    programs.append(strace)
    wait_until(lambda: traced(server.pid), "strace to attach to the server")
    for k in range(FLOODERS):
        lines = tmp_path / f"flood-{k}"
        lines.write_text("".join(f"flood {n}\n" for n in range(k, SLOW_FLOOD, FLOODERS)))
        with lines.open() as stdin:
            programs.append(python(step / "sender.py", path, stdin=stdin.fileno()))
    for _ in range(SLOW_FLOOD):
        server.expect(rf"^{path}: flood \d+$", timeout=120)
    strace.signal(signal.SIGINT)  # detaches; the server goes on
    assert strace.wait() in (0, -signal.SIGINT), strace.stderr
    found = batches(trace.read_text(), path)
    assert 1 < max(found.received, default=0) <= CAP, (
        f"why: one wakeup read {max(found.received, default=0)} datagrams of a flood of"
        f" {SLOW_FLOOD} that never let the socket run dry: cap the datagrams per wakeup"
        f" (BATCH, at most {CAP}), so that the other sockets get their turn"
        if max(found.received, default=0) > CAP
        else f"why: datagrams read per wakeup: {found.received[:20]}...: drain the socket,"
        " recvmsg(..., MSG_DONTWAIT) until BlockingIOError or BATCH of them"
    )


def test_a_flood_arrives_whole_on_stdout_and_on_the_bus(
    receiver: Start, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    count = 10_000
    path = tmp_path / "load"
    listening = listener(step_env, programs, "--count", str(count))
    server = receiver(path, extra=NO_GPIO)
    send(path, *(f"{n}".encode() for n in range(count)))  # as fast as the socket takes them
    printed = [server.expect(rf"^{path}: (\d+)$").group(1) for _ in range(count)]
    assert printed == [str(n) for n in range(count)], "lost or reordered on stdout"
    listening.wait(timeout=120)
    texts = [line.split("\t")[2] for line in listening.stdout[1:]]
    assert texts == [str(n) for n in range(count)], f"{len(texts)} signals for {count} datagrams"


def test_the_dbus_api_is_step_09s(
    receiver: Start, step_env: dict[str, str], tmp_path: Path
) -> None:
    receiver(tmp_path / "load", extra=NO_GPIO)
    introspection = subprocess.run(
        ["busctl", "--user", "introspect", NAME, PATH, NAME],
        env=step_env, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    for member, kind, signature in [
        ("GetIncoming", "method", r"-\s+as"),
        ("Message", "signal", "sts"),
        ("MessageFrom", "signal", "stuuus"),
        ("Recent", "method", r"-\s+ay"),
        ("RecentFd", "method", r"-\s+h"),
    ]:
        assert re.search(rf"\.{member}\s+{kind}\s+{signature}\s", introspection), introspection
