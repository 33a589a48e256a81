"""Where a message's time goes in a step's server (the pipeline part's "breakdown" section).

  CPU per message      the server (user and system time), dbus-daemon and the client:
                       /proc/PID/task/*/schedstat (ns) summed over the throughput repeats,
                       the server's user/system split from /proc/PID/stat (clock ticks)
  sleeps per message   the server's voluntary context switches: how often it waited
  syscalls per message by kind, `strace -c -f -p SERVER` attached during one more burst:
                       epoll_wait (the loop's turns: wakeups), epoll_ctl (add_reader and
                       remove_reader), recvmsg that got a datagram or a bus message,
                       recvmsg that said EAGAIN, sendmsg (signals), write (stdout),
                       timerfd_settime and getpid (with the bus's EAGAIN: bus.process()), other
  writes per message   the server's write() calls with no tracer attached (/proc/PID/io
                       syscw): step 10 writes once per batch, so this is 1 / its batch size

The chart (breakdown.png) puts the steps side by side: syscalls per message stacked by
kind, CPU per message per process (with the pipeline's pace, 1 / throughput: the busiest
process is what holds it back), wakeups, writes and sleeps per message.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import wait_until
from tools.bench.common import BenchError, Figure, Results, context_switches
from tools.bench.cost import traced

SECTION = "breakdown"
KINDS = [
    "epoll_wait",
    "epoll_ctl",
    "recvmsg",
    "recvmsg EAGAIN",
    "sendmsg",
    "write",
    "timerfd_settime",
    "getpid",
    "other",
]
CPU = ["cpu server user", "cpu server system", "cpu dbus-daemon", "cpu client"]
TITLE = "Where a message's time goes in the server: step 06 against step 10"


@dataclass
class Usage:
    """What a process has used so far: CPU (ns, and user/system ticks), context switches."""

    cpu_ns: int
    user: int
    system: int
    voluntary: int
    writes: int

    @classmethod
    def of(cls, pid: int) -> Usage:
        cpu_ns = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):  # a thread that just ended
                cpu_ns += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        voluntary = context_switches(pid)[0]
        return cls(cpu_ns, int(fields[11]), int(fields[12]), voluntary, int(io["syscw"]))

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            self.cpu_ns - other.cpu_ns,
            self.user - other.user,
            self.system - other.system,
            self.voluntary - other.voluntary,
            self.writes - other.writes,
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.cpu_ns + other.cpu_ns,
            self.user + other.user,
            self.system + other.system,
            self.voluntary + other.voluntary,
            self.writes + other.writes,
        )


ZERO = Usage(0, 0, 0, 0, 0)


def add(results: Results, who: str, name: str, unit: str, value: float, note: str) -> None:
    results.add(Figure(SECTION, f"{who}/{name}", unit, value, [value], note=note))


def cpu_figures(who: str, used: dict[str, Usage], messages: int, results: Results) -> None:
    """CPU and sleeps per message, from what server, daemon and client used over messages."""
    if not messages or not {"server", "daemon", "client"} <= set(used):
        results.skip(SECTION, f"{who}/cpu", "no message came through flat out")
        return
    per = 1 / 1000 / messages  # ns -> µs per message
    server = used["server"]
    ticks = server.user + server.system
    user_share = server.user / ticks if ticks else 0.5
    cpu = {
        "cpu server user": server.cpu_ns * user_share * per,
        "cpu server system": server.cpu_ns * (1 - user_share) * per,
        "cpu dbus-daemon": used["daemon"].cpu_ns * per,
        "cpu client": used["client"].cpu_ns * per,
    }
    note = (
        f"{messages} messages flat out; user/system split from /proc/PID/stat:"
        f" {server.user} and {server.system} clock ticks"  # few ticks: a coarse split, maybe 0
    )
    for name, value in cpu.items():
        add(results, who, name, "µs/msg", value, note)
    sleeps = server.voluntary / messages
    add(results, who, "sleeps", "per msg", sleeps, "the server's voluntary context switches")
    writes = server.writes / messages
    add(
        results, who, "writes untraced", "per msg", writes, "write() calls, no tracer: /proc/PID/io"
    )


def strace_counts(summary: str) -> dict[str, tuple[int, int]]:
    """strace -c's table: syscall -> (calls, errors)."""
    counts = {}
    for line in summary.splitlines():
        fields = line.split()
        if len(fields) in (5, 6) and fields[0][0].isdigit() and fields[-1] != "total":
            errors = int(fields[4]) if len(fields) == 6 else 0
            counts[fields[-1]] = (int(fields[3]), errors)
    return counts


def count_syscalls(who: str, pid: int, one_burst: Callable[[], int], results: Results) -> None:
    """Syscalls per message by kind: strace -c -f attached to pid while one_burst() runs
    (it returns how many messages came through)."""
    if shutil.which("strace") is None:
        results.skip(SECTION, f"{who}/syscalls", "strace is not installed")
        return
    with tempfile.TemporaryDirectory(prefix="bench-strace-") as folder:
        output = Path(folder, "server")
        tracer = subprocess.Popen(
            ["strace", "-c", "-f", "-q", "-o", str(output), "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_until(functools.partial(traced, pid), f"strace to attach to the {who} server")
            messages = one_burst()
        except (AssertionError, BenchError) as error:
            reason = str(error).strip().splitlines()[0]
            results.skip(SECTION, f"{who}/syscalls", f"strace -c -p: {reason}")
            return
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=20)
        counts = strace_counts(output.read_text() if output.exists() else "")
    if not counts or not messages:
        assert tracer.stderr is not None
        lines = tracer.stderr.read().decode(errors="replace").strip().splitlines()
        results.skip(SECTION, f"{who}/syscalls", lines[-1] if lines else "strace counted nothing")
        return
    by_kind = dict.fromkeys(KINDS, 0)
    for name, (calls, errors) in counts.items():
        if name == "recvmsg":
            by_kind["recvmsg"] += calls - errors
            by_kind["recvmsg EAGAIN"] += errors
        else:
            by_kind[name if name in by_kind else "other"] += calls
    note = f"strace -c -f -p, one burst of {messages}"
    for kind, calls in by_kind.items():
        add(results, who, kind, "syscalls/msg", calls / messages, note)
    add(results, who, "syscalls", "syscalls/msg", sum(by_kind.values()) / messages, note)
    wakeups = by_kind["epoll_wait"] / messages
    add(results, who, "wakeups", "per msg", wakeups, "epoll_wait calls: turns of the event loop")


def chart(results: Results, env: dict[str, object], out: Path) -> list[Path]:
    """Syscalls per message stacked by kind; CPU per message per process; wakeups, sleeps."""
    figures = {f.name: f.median for f in results.section(SECTION)}
    who = list(dict.fromkeys(name.split("/")[0] for name in figures))
    if not who:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (calls, cpu, turns) = plt.subplots(
        1, 3, figsize=(14, 4.8), gridspec_kw={"width_ratios": [1, 1.4, 1]}
    )
    colors = [f"C{i}" for i in range(10)]  # matplotlib's default cycle
    bottom = [0.0] * len(who)
    for kind, color in zip(KINDS, colors, strict=False):
        values = [figures.get(f"{w}/{kind}", 0.0) for w in who]
        calls.bar(who, values, bottom=bottom, label=kind, color=color)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for i, total in enumerate(bottom):
        calls.annotate(f"{total:.1f}", (i, total), ha="center", va="bottom")
    calls.set_ylabel("system calls per message")
    calls.set_title("the server's system calls, by kind")
    calls.legend(fontsize=8)

    width = 0.8 / len(who)
    roles = ["server", "dbus-daemon", "client"]
    for i, w in enumerate(who):
        user = figures.get(f"{w}/cpu server user", 0.0)
        system = figures.get(f"{w}/cpu server system", 0.0)
        others = [figures.get(f"{w}/cpu {role}", 0.0) for role in roles[1:]]
        xs = [r + (i - (len(who) - 1) / 2) * width for r in range(len(roles))]
        cpu.bar(xs[0], user, width, color=colors[i], label=f"{w}")
        cpu.bar(xs[0], system, width, bottom=user, color=colors[i], hatch="//", alpha=0.6)
        cpu.bar(xs[1:], others, width, color=colors[i])
        for x, value in zip(xs, [user + system, *others], strict=True):
            cpu.annotate(f"{value:.0f}", (x, value), ha="center", va="bottom", fontsize=8)
        pipeline = results.get("pipeline", f"{w}/throughput")
        if pipeline is not None and pipeline.median > 0:  # the pipeline's pace: µs per message
            cpu.axhline(1e6 / pipeline.median, color=colors[i], linestyle="--", linewidth=1)
            cpu.annotate(f"{w}: 1 / throughput = {1e6 / pipeline.median:.0f} µs",
                         (len(roles) - 0.5, 1e6 / pipeline.median), ha="right", va="bottom",
                         fontsize=8, color=colors[i])  # fmt: skip
    cpu.set_xticks(range(len(roles)), ["server (hatched: system)", *roles[1:]])
    cpu.set_ylabel("CPU µs per message")
    cpu.set_title("CPU per message, flat out (they run in parallel)")
    cpu.legend(fontsize=8)

    names = ["wakeups", "writes untraced", "sleeps"]
    for i, w in enumerate(who):
        values = [figures.get(f"{w}/{name}", 0.0) for name in names]
        xs = [r + (i - (len(who) - 1) / 2) * width for r in range(len(names))]
        turns.bar(xs, values, width, color=colors[i], label=w)
        for x, value in zip(xs, values, strict=True):
            turns.annotate(f"{value:.2f}", (x, value), ha="center", va="bottom", fontsize=8)
    turns.set_xticks(range(len(names)), ["epoll_wait\n(wakeups)", "write\n(no strace)", "sleeps"])
    turns.set_ylabel("per message")
    turns.set_title("turns of the event loop")
    turns.legend(fontsize=8)
    fig.suptitle(f"{TITLE}\n({env['pinning']}; syscalls: strace -c during one burst)")
    fig.tight_layout()
    path = out / "breakdown.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]
