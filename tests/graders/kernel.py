"""What the kernel says a running program is waiting for: the graders' view of an idea.

An event loop is an idea about *waiting*: one thread, asleep in epoll_wait() with no
timeout, on one epoll instance that watches every source. Python cannot tell us that
about another process, but /proc can, and it does not depend on who wins the CPU:

- /proc/PID/task/TID/stat (field 3) says whether a thread is asleep (S, D) or running;
  /proc/PID/task/TID/syscall says which system call it sleeps in, with its arguments
  (epoll_wait's 4th is the timeout in ms, -1 for none);
- /proc/PID/fdinfo/EPFD has one `tfd:` line per fd that epoll instance watches;
- /proc/PID/task/TID/status counts voluntary_ctxt_switches: each is one wakeup.

Reading another process's syscall file needs ptrace rights over it: the same user, or
root; the graders' programs are children of the test, so both hold.

Measured on step 03 and its mistakes (tests/graders/cases/step03/), idle after a datagram:
the step itself sleeps in epoll_wait(timeout -1) on one epoll that watches the socket, and
wakes 0 times in 0.5 s; `await asyncio.sleep(0.01)` polling: epoll_wait(timeout 10), 45
wakeups; a blocking recvmsg in a coroutine: recvmsg; select() in a task: pselect6; a retry
loop around `await asyncio.sleep(0)`: never asleep; a nested run_until_complete: a second
epoll; to_thread: a second thread in recvmsg. Each is told apart by where the thread
sleeps, not by timing, so a loaded machine gives the same verdict (wakeups are a second
check: preemption by load counts as involuntary, not voluntary, switches).
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The system calls a waiting thread is found in, by number, for the machines we run on.
SYSCALLS: dict[str, dict[int, str]] = {
    "x86_64": {
        0: "read",
        7: "poll",
        23: "select",
        35: "nanosleep",
        45: "recvfrom",
        47: "recvmsg",
        202: "futex",
        230: "clock_nanosleep",
        232: "epoll_wait",
        270: "pselect6",
        271: "ppoll",
        281: "epoll_pwait",
        441: "epoll_pwait2",
    },
    "aarch64": {
        63: "read",
        72: "pselect6",
        73: "ppoll",
        98: "futex",
        101: "nanosleep",
        115: "clock_nanosleep",
        207: "recvfrom",
        212: "recvmsg",
        22: "epoll_pwait",
        441: "epoll_pwait2",
    },
}
EPOLL_WAITS = {"epoll_wait", "epoll_pwait"}  # (epfd, events, maxevents, timeout_ms, ...)
NO_TIMEOUT = -1


@dataclass(frozen=True)
class Sleep:
    """One look at one thread: asleep or not, and in which system call."""

    tid: int
    asleep: bool  # state S or D: waiting for something, not running or runnable
    syscall: str  # a name from SYSCALLS, "nr N" for others, "running", or "gone"
    args: tuple[int, ...] = ()

    @property
    def in_epoll_wait(self) -> bool:
        return self.syscall in EPOLL_WAITS

    @property
    def epfd(self) -> int:
        return self.args[0] if self.in_epoll_wait else -1

    @property
    def timeout_ms(self) -> int | None:
        """epoll_wait's timeout in ms (-1: none), None if not in epoll_wait."""
        if not self.in_epoll_wait:
            return None
        timeout = self.args[3] & 0xFFFFFFFF  # an int in a 64-bit register
        return timeout - (1 << 32) if timeout >= 1 << 31 else timeout

    def __str__(self) -> str:
        if self.in_epoll_wait:
            return f"{self.syscall}(epfd {self.epfd}, timeout {self.timeout_ms} ms)"
        return self.syscall


def threads(pid: int) -> list[int]:
    """The thread ids of a process, the main thread (tid == pid) first."""
    tids = sorted(int(name) for name in os.listdir(f"/proc/{pid}/task"))
    return sorted(tids, key=lambda tid: tid != pid)


def look(pid: int, tid: int) -> Sleep:
    """Where thread tid of pid is right now."""
    task = Path(f"/proc/{pid}/task/{tid}")
    try:
        stat = (task / "stat").read_text()
        fields = (task / "syscall").read_text().split()
    except (FileNotFoundError, ProcessLookupError):
        return Sleep(tid, False, "gone")
    state = stat.rsplit(")", 1)[1].split()[0]  # the name in (...) may hold spaces
    if fields[0] == "running" or fields[0] == "-1":
        return Sleep(tid, state in "SD", "running")
    number = int(fields[0])
    name = SYSCALLS.get(platform.machine(), {}).get(number, f"nr {number}")
    args = tuple(int(arg, 16) for arg in fields[1:7])
    return Sleep(tid, state in "SD", name, args)


def samples(pid: int, tid: int, count: int = 20, interval: float = 0.01) -> list[Sleep]:
    """count looks at a thread, interval s apart (a sample of where it spends its time)."""
    seen = []
    for n in range(count):
        if n:
            time.sleep(interval)  # sampling at a rate, not waiting for an event
        seen.append(look(pid, tid))
    return seen


def resting_place(seen: list[Sleep]) -> Sleep | None:
    """Where the thread sleeps most, among the looks that found it asleep (None: never)."""
    asleep = [sleep for sleep in seen if sleep.asleep and sleep.syscall != "running"]
    if not asleep:
        return None
    key, _ = Counter((s.syscall, s.epfd, s.timeout_ms) for s in asleep).most_common(1)[0]
    return next(s for s in asleep if (s.syscall, s.epfd, s.timeout_ms) == key)


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far (user + system, all threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, looks: int = 5, busy: float = 0.5, timeout: float = 20.0) -> None:
    """Wait until the process is idle: every thread asleep in the same system call for looks
    looks in a row. A busy program never is: give up once it has used busy s of CPU (CPU
    time, not wall time: on a loaded machine a starting program waits long for a CPU)."""
    start, deadline = cpu_seconds(pid), time.monotonic() + timeout
    stable, last = 0, None
    while stable < looks:
        now = tuple(look(pid, tid) for tid in threads(pid))
        places = tuple((sleep.tid, sleep.syscall) for sleep in now)
        stable = stable + 1 if all(s.asleep for s in now) and places == last else 0
        last = places
        if cpu_seconds(pid) - start > busy or time.monotonic() > deadline:
            return
        time.sleep(0.01)  # polling /proc: it has no event to wait on


def fd_targets(pid: int) -> dict[int, str]:
    """fd number -> what it is: 'socket:[123]', 'pipe:[45]', 'anon_inode:[eventpoll]', a path."""
    targets: dict[int, str] = {}
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # the process ended
        for entry in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(FileNotFoundError):  # closed meanwhile
                targets[int(entry.name)] = os.readlink(entry.path)
    return targets


def epolls(pid: int) -> dict[int, set[int]]:
    """Every epoll instance the process has open: its fd -> the fds it watches (`tfd:` lines)."""
    found = {}
    for fd, target in fd_targets(pid).items():
        if target == "anon_inode:[eventpoll]":
            try:
                info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
            except FileNotFoundError:
                continue
            found[fd] = {int(tfd) for tfd in re.findall(r"^tfd:\s*(\d+)", info, re.M)}
    return found


def unix_socket_paths() -> dict[str, str]:
    """'socket:[inode]' -> the path an AF_UNIX socket is bound to (from /proc/net/unix)."""
    paths = {}
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8:
            paths[f"socket:[{fields[6]}]"] = fields[7]
    return paths


def other_socket_fds(pid: int) -> list[int]:
    """The process's sockets that are not AF_UNIX ones (a CAN socket, in the steps)."""
    lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    unix = {f"socket:[{line.split()[6]}]" for line in lines if len(line.split()) >= 7}
    return [
        fd
        for fd, target in fd_targets(pid).items()
        if target.startswith("socket:") and target not in unix
    ]


def gpio_fds(pid: int) -> list[int]:
    """A GPIO line request's fds (anon_inode:gpio-line), or the simulated line's pipe: every
    pipe of the process but its standard input, output and error."""
    targets = fd_targets(pid)
    standard = {targets.get(fd) for fd in (0, 1, 2)}
    return [
        fd
        for fd, target in targets.items()
        if target == "anon_inode:gpio-line"
        or (target.startswith("pipe:") and target not in standard)
    ]


def socket_fds(pid: int, path: str | os.PathLike[str]) -> list[int]:
    """The process's fds of the AF_UNIX socket bound to path."""
    inodes = [inode for inode, bound in unix_socket_paths().items() if bound == os.fspath(path)]
    return [fd for fd, target in fd_targets(pid).items() if target in inodes]


def wakeups(pid: int, tid: int, seconds: float = 0.5) -> int:
    """How often the thread woke up (went to sleep again) in the next seconds."""

    def switches() -> int:
        status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        match = re.search(r"^voluntary_ctxt_switches:\s*(\d+)", status, re.M)
        assert match, status
        return int(match[1])

    before = switches()
    time.sleep(seconds)  # counting what happens in a fixed window, not waiting for an event
    return switches() - before


# --- verdicts: one why line each, "" when the idea holds ------------------------------------

IDLE_WAKEUPS = 3  # an idle loop wakes 0 times in 0.5 s; a 10 ms poller about 50 times
ENDED = "why: the program ended while the grader watched how it waits (see its stderr)"


def verdict(judge: Callable[..., str]) -> Callable[..., str]:
    """A verdict that says so in its why line if the program ends while it is judged."""

    @functools.wraps(judge)
    def judged(*args: Any, **kwargs: Any) -> str:
        try:
            return judge(*args, **kwargs)
        except (FileNotFoundError, ProcessLookupError):  # its /proc files went with it
            return ENDED

    return judged


def where(sleep: Sleep | None) -> str:
    if sleep is None:
        return "never asleep (busy)"
    if sleep.syscall.startswith("nr "):
        return f"system call {sleep.syscall.removeprefix('nr ')}"
    return f"{sleep}"


@verdict
def loop_verdict(
    pid: int,
    sources: dict[str, list[int]],
    helpers: int = 0,
    helper_sleeps: frozenset[str] = frozenset({"clock_nanosleep", "nanosleep"}),
    wakeups_allowed: int = IDLE_WAKEUPS,
    own_timer_ms: int = 0,
) -> str:
    """Why an idle process is not one event loop waiting for all its sources ("" if it is).

    own_timer_ms: the period of a timer the step itself keeps on the loop (the simulated
    GPIO button's call_later): epoll_wait's timeout up to it is that timer, not polling.

    sources: a name for each source (a socket's path, "the GPIO line") -> its fds; the
    loop's epoll must watch one of each. helpers: threads the step itself has besides the
    loop (the simulated GPIO button), each resting in one of helper_sleeps.
    """
    settle(pid)
    tids = threads(pid)
    main, others = tids[0], tids[1:]
    rests = {tid: resting_place(samples(pid, tid, count=8)) for tid in others}
    extra = [
        tid for tid, rest in rests.items() if rest is None or rest.syscall not in helper_sleeps
    ]
    if len(others) > helpers or extra:
        waits = ", ".join(where(rests[tid]) for tid in extra or others)
        return (
            f"why: {len(tids)} threads where one event loop needs {1 + helpers}: another thread "
            f"waits ({waits}) instead of the loop (threading, to_thread, run_in_executor?)"
        )
    rest = resting_place(samples(pid, main))
    if rest is None:
        return (
            "why: the event loop's thread never sleeps: it retries instead of waiting "
            "in epoll_wait (a loop around `await asyncio.sleep(0)`?)"
        )
    if not rest.in_epoll_wait:
        return (
            f"why: the event loop's thread is not waiting in epoll_wait but in {where(rest)}: "
            "a blocking call inside a coroutine stops the whole loop"
        )
    loops = epolls(pid)
    watched = loops.get(rest.epfd, set())
    # An epoll the loop's own epoll watches is one more source (a hang-up watch); one it does
    # not is a second loop, and the thread waits in only one of them.
    if [fd for fd in loops if fd != rest.epfd and fd not in watched]:
        return (
            f"why: {len(loops)} event loops (epoll instances), waiting in the one that does not "
            "watch everything: a loop run inside the loop (run_until_complete in a task) "
            "blocks the outer one"
        )
    timeout = rest.timeout_ms
    if timeout != NO_TIMEOUT and not (timeout is not None and 0 <= timeout <= own_timer_ms):
        return (
            f"why: the loop waits in epoll_wait with a timeout of {rest.timeout_ms} ms, not until "
            "a source is ready: it polls (a retry loop around `await asyncio.sleep(...)`?)"
        )
    missing = [name for name, fds in sources.items() if not watched & set(fds)]
    if missing:
        return (
            f"why: the event loop's epoll does not watch {', '.join(missing)}: nothing wakes "
            "the loop when it is ready (read it with loop.add_reader or an await on the loop)"
        )
    woke = wakeups(pid, main)
    if woke > wakeups_allowed:
        return (
            f"why: the loop woke up {woke} times in 0.5 s with nothing to do "
            f"(at most {wakeups_allowed}): it polls instead of waiting"
        )
    return ""


RECEIVES = {"recvmsg", "recvfrom", "read"}


def threads_verdict(pid: int, sockets: dict[str, list[int]]) -> str:
    """Why an idle process is not one thread per socket, each blocked in its recvmsg."""
    return blocking_verdict(pid, sockets, threaded=True)


@verdict
def blocking_verdict(pid: int, sockets: dict[str, list[int]], threaded: bool = False) -> str:
    """Why an idle process is not blocked in one recvmsg per socket ("" if it is).

    threaded: each socket in a thread of its own (step 02), else one socket, one thread.
    """
    settle(pid)
    tids = threads(pid)
    rests = {tid: resting_place(samples(pid, tid, count=10)) for tid in tids}
    if threaded and len(tids) > 1 + len(sockets):
        return (
            f"why: {len(tids)} threads for {len(sockets)} sockets: want one thread per socket, "
            "blocked in its own recvmsg, plus the main thread"
        )
    for name, fds in sockets.items():
        waiting = [
            tid
            for tid, rest in rests.items()
            if rest is not None and rest.syscall in RECEIVES and rest.args[0] in fds
        ]
        if len(waiting) != 1:
            seen = ", ".join(sorted({where(rest) for rest in rests.values()}))
            return (
                f"why: {'no' if not waiting else len(waiting)} thread blocked in recvmsg on "
                f"{name} (its threads wait in: {seen}): "
                + (
                    "each socket's own thread waits in its own recvmsg (no polling, no select)"
                    if threaded
                    else "the receiver waits in recvmsg until a datagram arrives (no polling)"
                )
            )
    return ""
