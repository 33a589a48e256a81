"""`make strace-N`: a live run under strace still shows the pattern of its reference.

The references are tests/strace/step-NN.txt (`python -m tools.strace_demo N --save`).
What is compared is the pattern (how many threads, which call each one waits in,
which sockets it receives from, whether every receive waited for the event loop
to report the socket readable), never the bytes: pids, times and counts change.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import can_sim, strace_demo, table

STEPS = table.load()
REPO_STEPS = table.ROOT / "steps"
TIMEOUT = 120  # seconds for a whole command; each wait inside has its own, shorter timeout


@functools.cache
def live(n: int, folder_of: int | None = None) -> tuple[str, strace_demo.Analysis]:
    """Step n under strace (once per test session): its sockets, folder_of's receiver."""
    step = table.get(n)
    folder = table.get(folder_of or n).folder(REPO_STEPS)
    return strace_demo.run(step, folder)


def reference(n: int) -> list[str]:
    path = strace_demo.reference_path(n)
    assert path.is_file(), f"no reference {path}: run python3 -m tools.strace_demo {n} --save"
    rows = strace_demo.pattern_in(path.read_text())
    assert rows, f"{path} has no pattern block ({strace_demo.PATTERN_HEADER!r})"
    return rows


@pytest.mark.parametrize("step", STEPS, ids=lambda step: f"step-{step.n:02d}")
def test_live_run_shows_the_reference_pattern(step: table.Step) -> None:
    text, analysis = live(step.n)
    assert strace_demo.pattern(analysis) == reference(step.n), (
        f"step {step.n} under strace no longer waits as its reference says"
        f" ({strace_demo.reference_path(step.n)}):\n{text}"
    )


# The comparison can fail: the same sockets, received by a neighbour's receiver,
# give a different pattern (threads blocked in recvmsg vs one thread in epoll_wait;
# one datagram per wakeup vs draining the socket).
SWAPPED = [(2, 4), (4, 2), (1, 3), (3, 1), (9, 10), (10, 9)]


@pytest.mark.parametrize("n, folder_of", SWAPPED, ids=[f"step-{n}-as-{m}" for n, m in SWAPPED])
def test_another_steps_receiver_does_not_match(n: int, folder_of: int) -> None:
    text, analysis = live(n, folder_of)
    assert strace_demo.pattern(analysis) != reference(n), (
        f"step {folder_of}'s receiver shows step {n}'s pattern: the comparison sees nothing\n{text}"
    )


def test_step_02_blocks_one_thread_per_socket() -> None:
    """The talk's claim for step 02, whatever the reference says."""
    step = table.get(2)
    text, analysis = live(2)
    main, *workers = analysis.threads
    assert len(analysis.threads) == len(step.sockets) + 1, text
    assert main.waits_in is not None and main.waits_in.name == "futex", text
    waits = sorted(
        strace_demo.wait_name(t.waits_in, analysis.fd_names) for t in workers if t.waits_in
    )
    assert waits == sorted(f"recvmsg on {name}" for name in step.sockets), text
    for worker in workers:  # each thread receives from its own socket only
        assert len(worker.received) == 1 and not worker.loop_calls, text
    point = "3 threads: the main thread waits (futex), 2 threads each blocked in their own recvmsg"
    assert point in " ".join(text.split())
    assert text.count("CLONE_THREAD") == 2, text  # both threads' start is in the excerpt


def test_step_10_fits_100_columns_after_the_handshake_in_one_thread() -> None:
    """The projector's strace-10: one thread (the simulated GPIO line is the loop's timer),
    no line over 100 columns, the excerpt starting after the bus's connect and auth."""
    text, analysis = live(10)
    assert len(analysis.threads) == 1, text
    assert "summary: step 10: 1 thread," in text
    assert [line for line in text.splitlines() if len(line) > 100] == []
    excerpt = text.split("after the bus's auth):")[1].split("summary:")[0]
    assert "connect(" not in excerpt and "AUTH" not in excerpt and "OK " not in excerpt, text
    assert re.search(r'recvmsg\(\d+<load>, "load burst 8", …\) = 12', excerpt), text


def test_step_04_waits_in_one_epoll_loop() -> None:
    """The talk's claim for step 04: one thread, recvmsg only once epoll_wait said readable."""
    step = table.get(4)
    text, analysis = live(step.n)
    assert len(analysis.threads) == 1, text
    main = analysis.main
    assert main.waits_in is not None, text
    assert strace_demo.SAME_AS.get(main.waits_in.name, main.waits_in.name) == "epoll_wait", text
    assert sorted(main.received) == sorted(step.sockets), text
    sent = strace_demo.MESSAGES + strace_demo.BURST
    assert all(n == sent for n in main.received.values()), text
    assert main.most_per_wakeup == 1, text  # even with the burst waiting: one per wakeup
    assert main.recv_after_ready is True, text
    assert "1 thread, " in text and "recvmsg only after epoll_wait reported" in text


def test_a_receive_without_readiness_is_noticed() -> None:
    """A recvmsg on a socket the loop did not report readable breaks the pattern."""
    trace = "\n".join(
        [
            "100 10:00:00.000001 epoll_wait(3<anon_inode:[eventpoll]>, [{events=EPOLLIN, data={u32=6, u64=6}}], 3, -1) = 1",  # noqa: E501
            '100 10:00:00.000002 recvmsg(6<UNIX:[1,"/t/load"]>, {msg_name=0x1, msg_namelen=110 => 0, msg_iov=[{iov_base="a", iov_len=1024}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 1',  # noqa: E501
            '100 10:00:00.000003 recvmsg(7<UNIX:[2,"/t/sine"]>, {msg_name=0x1, msg_namelen=110 => 0, msg_iov=[{iov_base="b", iov_len=1024}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 1',  # noqa: E501
            "100 10:00:00.000004 epoll_wait(3<anon_inode:[eventpoll]>, 0x7f, 3, -1) = -1 EINTR (Interrupted system call)",  # noqa: E501
            "100 10:00:00.000005 --- SIGINT {si_signo=SIGINT, si_code=SI_USER} ---",
        ]
    )
    recording = strace_demo.Recording(
        trace, 100, {"/t/load": "load", "/t/sine": "sine"}, ("load", "sine"), "SIGINT"
    )
    rows = strace_demo.pattern(strace_demo.analyse(recording))
    assert rows == [
        "threads: 1",
        "main thread: waits in epoll_wait; received from load, sine",
        "some recvmsg came before epoll_wait reported its socket readable",
        "one recvmsg per socket per wakeup",
    ]


def test_draining_after_one_report_is_seen_and_an_eagain_ends_it() -> None:
    """Several recvmsg after one epoll_wait: a drain; after EAGAIN, it needs a new report."""
    loop = (
        "epoll_wait(3<anon_inode:[eventpoll]>, [{events=EPOLLIN, data={u32=6, u64=6}}], 3, -1) = 1"  # noqa: E501
    )
    got = 'recvmsg(6<UNIX:[1,"/t/load"]>, {msg_name=0x1, msg_namelen=110 => 0, msg_iov=[{iov_base="a", iov_len=1024}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, MSG_DONTWAIT) = 1'  # noqa: E501
    eagain = 'recvmsg(6<UNIX:[1,"/t/load"]>, {msg_namelen=110}, MSG_DONTWAIT) = -1 EAGAIN (Resource temporarily unavailable)'  # noqa: E501

    def rows(*calls: str) -> list[str]:
        trace = "\n".join(f"100 10:00:00.{i:06d} {call}" for i, call in enumerate(calls, 1))
        recording = strace_demo.Recording(trace, 100, {"/t/load": "load"}, ("load",), "SIGINT")
        return strace_demo.pattern(strace_demo.analyse(recording))[2:]

    assert rows(loop, got, got, got, eagain) == [
        "every recvmsg came after epoll_wait reported its socket readable",
        "several recvmsg per socket per wakeup: it drains the socket",
    ]
    assert rows(loop, got, eagain, got)[0] == (
        "some recvmsg came before epoll_wait reported its socket readable"
    )
    assert rows(loop, got, loop, got)[1] == "one recvmsg per socket per wakeup"


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.strace_demo", *args],
        cwd=table.ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_make_strace_prints_excerpt_and_summary() -> None:
    """As a presenter types it."""
    result = subprocess.run(
        ["make", "--no-print-directory", "strace-2"],
        cwd=table.ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "trace (pid, seconds, call; from the first wait on its sockets" in out
    assert "recvmsg(3<load>" in out or "recvmsg(4<load>" in out, out
    assert "<unfinished ...>" in out, out  # threads blocked while others ran
    assert "summary: step 02: 3 threads" in out, out
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["99"], "no step 99"),
        (["two"], "invalid int value"),
        (["2", "--steps", "/nonexistent"], "no folder /nonexistent/"),
        (["2", "--messages", "0"], "at least 1"),
        (["2", "--burst", "99"], "--burst must be 0 to 8"),
        (["4", "--can", "vcan0"], "step 4 has no --can"),
        (["5", "--can", "vcan0", "--save"], "--save writes the reference"),
    ],
)
def test_bad_input_gets_one_clear_line(args: list[str], message: str) -> None:
    result = run_tool(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_save_writes_a_reference_with_the_printed_pattern(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(strace_demo, "REFERENCE_DIR", tmp_path)
    assert strace_demo.main(["1", "--save", "--messages", "1"]) == 0
    printed = capsys.readouterr().out
    saved = (tmp_path / "step-01.txt").read_text()
    assert strace_demo.pattern_in(saved) == strace_demo.pattern_in(printed) == reference(1)


@pytest.mark.skipif(can_sim.unavailable() is None, reason="this kernel has CAN: tests/gpio_vm/")
def test_make_strace_with_can_says_why_not_where_the_kernel_has_none() -> None:
    """Here socket(AF_CAN) fails; tests/gpio_vm/test_can_strace.py runs it in the gpio-vm."""
    result = subprocess.run(
        ["make", "--no-print-directory", "strace-5", "CAN=vcan0"],
        cwd=table.ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode != 0 and result.stdout == "", result.stdout
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert len(ours) == 1 and ours[0].startswith("strace-5: --can vcan0: "), result.stderr
    assert "no CAN sockets" in ours[0] and "make test-gpio-vm" in ours[0], ours[0]
