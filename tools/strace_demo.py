"""`make strace-N`: watch step N's receiver wait, under `strace -f`.

    python3 -m tools.strace_demo N [--steps DIR] [--messages K] [--burst B] [--trace FILE] [--save]
                                   [--can IFACE]

Runs step N's receiver on its sockets (from steps/steps.toml; the files go to a
temporary folder) under `strace -f`, traced for the calls a program waits in
(recvmsg, epoll_wait, poll, select, futex) and the ones that start threads.
Once it listens, sends K datagrams to each socket, one at a time, waiting for
the receiver to print each; then the load: B more to each socket at once, while
the receiver is stopped (SIGSTOP), so that they all wait for it when it goes on
(SIGCONT). Then it waits until every thread sits in a system call, and stops it
with SIGINT as Ctrl-C would. It prints a short excerpt of the trace and a
summary of where each thread (pid) waited, and how often:

    step 02: 3 threads: the main thread waits (futex),
             2 threads each blocked in their own recvmsg
    step 04: 1 thread, 15 epoll_wait calls,
             recvmsg only after epoll_wait reported the socket readable, one per wakeup
    step 10: ..., up to 8 recvmsg per socket per wakeup (it drains the socket)

The last block it prints, the pattern, leaves out what changes from run to run
(pids, times, counts). --save writes the output to tests/strace/step-NN.txt, the
reference whose pattern tests/test_strace_demo.py compares with a live run.

--can IFACE (step 05 and later; a kernel with CAN, e.g. vcan0 from `make can-sim`)
also gives the receiver a CAN socket and sends K frames on IFACE: its fd shows up
in the same epoll_wait as the datagram sockets'.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tools import bus, can_sim, table
from tools.strace_report import (  # noqa: F401 (the names tests and slides use from here)
    EXCERPT_LINES,
    LOOP,
    PATTERN_HEADER,
    RECV,
    SAME_AS,
    SLEEP,
    Analysis,
    Call,
    Line,
    Recording,
    Thread,
    analyse,
    compact,
    excerpt,
    fd_of,
    headline,
    highlight,
    parse,
    pattern,
    readable,
    report,
    wait_name,
)

REFERENCE_DIR = table.ROOT / "tests" / "strace"
MESSAGES = 3  # datagrams per socket, one at a time
BURST = 8  # datagrams per socket at once, while the receiver is stopped (Linux queues >= 10)
START_TIMEOUT = 30.0  # seconds for the receiver to listen on all its sockets, under strace
TIMEOUT = 10.0  # seconds for anything else: a datagram printed, every thread waiting, exit

TRACED = (*RECV, *LOOP, *SLEEP, "futex", "clone", "clone3", "connect")
# The same wait under another name on some architectures (aarch64 has no epoll_wait).
NO_STRACE = (
    "strace not found: install it (Debian/Ubuntu: apt install strace; Fedora: dnf install strace)"
)


class DemoError(Exception):
    """The demo could not run; the message is one line (or a few) for the user."""


# ---------------------------------------------------------------------------------------------
# Running the receiver under strace


class Lines:
    """The lines a child prints, read by a thread, waited for with a timeout."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.seen.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, regex: str, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise DemoError(f"no {what} within {timeout:.0f}s") from None
            if line is None:
                self._queue.put(None)
                raise DemoError(f"the receiver ended before {what}")
            if re.search(regex, line):
                return line


def child_of(parent: int) -> int | None:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(entry.path, "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    return int(entry.name)
    return None


def waiting_threads(pid: int) -> tuple[str, ...] | None:
    """Each thread's system call number if all of them sleep in one, else None."""
    where = []
    for tid in sorted(os.listdir(f"/proc/{pid}/task")):
        task = Path(f"/proc/{pid}/task/{tid}")
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            syscall = (task / "syscall").read_text().split()[0]
        except (OSError, IndexError):
            return None
        if state != "S" or not syscall.isdigit():
            return None
        where.append(f"{tid}:{syscall}")
    return tuple(where)


def wait_until_all_wait(pid: int, timeout: float) -> None:
    """Until every thread sleeps in a system call, the same one on two looks in a row."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        now = waiting_threads(pid)
        if now is not None and now == last:
            return
        last = now
        time.sleep(0.02)  # polling /proc: there is no event to wait on
    raise DemoError(f"the receiver's threads were still busy after {timeout:.0f}s")


@contextlib.contextmanager
def environment(step: table.Step, folder: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """The receiver's environment (with a private bus if it needs one) and extra fd names."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if "bus" not in step.needs:
        yield env, {}
        return
    try:
        with bus.private_bus(folder / "bus") as private:
            yield {**private.env, "PYTHONUNBUFFERED": "1"}, {str(private.folder / "socket"): "bus"}
    except bus.BusError as error:
        raise DemoError(str(error)) from None


def check_can(step: table.Step, iface: str) -> None:
    """--can needs a step that has it, a kernel with CAN sockets, and the interface."""
    if step.n < 5:
        raise DemoError(f"step {step.n} has no --can: the CAN task comes with step 05")
    if reason := can_sim.unavailable():
        raise DemoError(f"--can {iface}: {reason}")
    if not can_sim.exists(iface):
        raise DemoError(f"--can {iface}: no such interface (make it with `sudo make can-sim`)")


def record(
    step: table.Step,
    folder: Path,
    messages: int = MESSAGES,
    stop: int = signal.SIGINT,
    burst: int = BURST,
    can: str | None = None,
) -> Recording:
    """Run step's receiver (from folder) under strace, send it datagrams (and frames), stop it."""
    strace = shutil.which("strace")
    if strace is None:
        raise DemoError(NO_STRACE)
    if can:
        check_can(step, can)
    if not (folder / "receiver.py").is_file():
        raise DemoError(f"step {step.n}: no {folder / 'receiver.py'}")
    if not step.sockets:
        raise DemoError(f"step {step.n} has no sockets in steps/steps.toml to send to")
    with (
        tempfile.TemporaryDirectory(prefix="strace-demo-") as tmp,
        environment(step, Path(tmp)) as (env, extra_names),
    ):
        names = {os.path.join(tmp, name): name for name in step.sockets} | extra_names
        if can:
            names[f"can_ifindex={socket.if_nametoindex(can)}"] = can  # what its bind() shows
        trace_file = Path(tmp, "trace")
        argv = [
            strace,
            "-f",  # follow the threads (and any child)
            "--seccomp-bpf",  # stop only for the traced calls: much less slow-down
            "-qq",
            "-tt",  # wall-clock times, to the microsecond
            "-yy",  # file descriptors with what they are: 3<UNIX:[inode,"path"]>
            "-s64",
            "-e",
            "trace=" + ",".join(TRACED + (("bind",) if can else ())),
            "-e",
            "signal=SIGINT,SIGTERM",
            "-o",
            str(trace_file),
            sys.executable,
            "receiver.py",
            *(os.path.join(tmp, name) for name in step.sockets),
            *(("--can", can) if can else ()),
        ]
        process = subprocess.Popen(
            argv,
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
        )
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = Lines(process.stdout), Lines(process.stderr)
        try:
            try:
                for name in step.sockets:
                    stdout.expect(
                        rf"^listening on .*{re.escape(name)}$",
                        START_TIMEOUT,
                        f"'listening on {name}'",
                    )
                pid = child_of(process.pid)
                if pid is None:
                    raise DemoError("the receiver ended")
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                    for i in range(1, messages + 1):
                        for name in step.sockets:
                            payload = f"{name} {i}"
                            sock.sendto(payload.encode(), os.path.join(tmp, name))
                            stdout.expect(re.escape(payload) + "$", TIMEOUT, f"'{payload}' printed")
                    for i in range(1, messages + 1 if can else 1):  # as many frames, one by one
                        frame = f"{0x100 + i:03X}#{i:02X}"
                        can_sim.send([can_sim.parse(frame)], str(can))
                        stdout.expect(f"^{can}: {frame}$", TIMEOUT, f"'{can}: {frame}' printed")
                    if burst:
                        send_burst(sock, pid, step.sockets, Path(tmp), burst, stdout)
                wait_until_all_wait(pid, TIMEOUT)
                os.kill(pid, stop)
                process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                error = DemoError(f"the receiver did not end within {TIMEOUT:.0f}s of the signal")
                raise error from None
            except (DemoError, OSError) as error:
                tail = "\n".join("  " + line for line in (stdout.seen + stderr.seen)[-8:])
                raise DemoError(f"step {step.n}: {error}" + (f"\n{tail}" if tail else "")) from None
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return Recording(
            trace_file.read_text(errors="replace"),
            pid,
            names,
            (*step.sockets, *((can,) if can else ())),
            signal.Signals(stop).name,
            burst,
        )


def send_burst(
    sock: socket.socket, pid: int, names: tuple[str, ...], folder: Path, burst: int, out: Lines
) -> None:
    """burst datagrams to each socket while the receiver is stopped: all there when it goes on."""
    wait_until_all_wait(pid, TIMEOUT)
    os.kill(pid, signal.SIGSTOP)
    try:
        for name in names:
            for i in range(1, burst + 1):
                sock.sendto(f"{name} burst {i}".encode(), str(folder / name))
    finally:
        os.kill(pid, signal.SIGCONT)
    left = set(names)
    while left:
        line = out.expect(rf" burst {burst}$", TIMEOUT, "the burst's last datagram printed")
        left -= {name for name in names if line.endswith(f"{name} burst {burst}")}


def reference_path(n: int) -> Path:
    return REFERENCE_DIR / f"step-{n:02d}.txt"


def pattern_in(text: str) -> list[str]:
    """The pattern block of a saved output."""
    lines = text.splitlines()
    if PATTERN_HEADER not in lines:
        return []
    rows = []
    for row in lines[lines.index(PATTERN_HEADER) + 1 :]:
        if not row.startswith("  "):
            break
        rows.append(row.strip())
    return rows


def run(
    step: table.Step, folder: Path, messages: int = MESSAGES, can: str | None = None
) -> tuple[str, Analysis]:
    return report(step, record(step, folder, messages, can=can), messages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make strace-N", description=__doc__.split("\n\n")[0].strip("`")
    )
    parser.add_argument("n", type=int, metavar="N", help="the step number")
    parser.add_argument("--steps", default="", help="the steps folder (default: steps/)")
    parser.add_argument("--messages", type=int, default=MESSAGES, help="datagrams per socket")
    parser.add_argument(
        "--burst", type=int, default=BURST, help="then datagrams per socket at once (0: none)"
    )
    parser.add_argument("--trace", type=Path, help="also write strace's own output to this file")
    parser.add_argument("--can", metavar="IFACE", help="also a CAN bus, e.g. vcan0 (step 05+)")
    parser.add_argument(
        "--save", action="store_true", help=f"write the output to {REFERENCE_DIR}/step-NN.txt"
    )
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    if not 0 <= args.burst <= BURST:
        parser.error(f"--burst must be 0 to {BURST} (what a socket queues by default)")
    if args.save and args.can:
        parser.error("--save writes the reference, which is without --can")
    step = table.get(args.n)  # a clear SystemExit for a step that does not exist
    folder = step.folder(args.steps or None)
    if not folder.is_dir():
        print(f"strace-{args.n}: no folder {folder}", file=sys.stderr)
        return 1
    try:
        recording = record(step, folder, args.messages, burst=args.burst, can=args.can)
        text, _ = report(step, recording, args.messages)
    except DemoError as error:
        print(f"strace-{args.n}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: record() has stopped strace and the receiver
        return 130
    print(highlight(text) if sys.stdout.isatty() else text, end="")
    if args.trace:
        args.trace.write_text(recording.trace)
        print(f"\nstrace's own output: {args.trace}")
    if args.save:
        reference_path(step.n).parent.mkdir(parents=True, exist_ok=True)
        reference_path(step.n).write_text(
            f"# `make strace-{step.n}`, saved by python3 -m tools.strace_demo {step.n} --save.\n"
            "# tests/test_strace_demo.py compares a live run with the pattern block only.\n\n"
            + text
        )
        print(f"\nsaved as {os.path.relpath(reference_path(step.n))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
