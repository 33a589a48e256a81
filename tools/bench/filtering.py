"""Part "filtering": who picks a signal's recipients, and what it costs whom.

kdbus promised "filtering in-kernel (bloom filters)"; today the bus daemon does it with
match rules, also on a signal's arguments (arg0). The step 06 receiver listens on N
sources (N = 2, 4, 8), a sender feeds every one at RATE datagrams per second (the server
emits N times RATE signals per second), and one client at a time listens:

  all    subscribed to every Message, and keeps only src0's itself (what python-sdbus's
         `async for m in proxy.message` amounts to: its match has no arg0)
  arg0   subscribed with arg0='src0': the daemon forwards only src0's messages

Per round: the Message signals delivered to the client, its CPU time and voluntary
context switches (a switch = the process went to sleep and was woken: a wakeup), also
per second of the round, and the daemon's CPU time. The pace matters: a client that
cannot keep up reads several messages per wakeup, so flat out its wakeups saturate.
The sources are staggered, as independent ones would be. CPU times are
/proc/PID/task/*/schedstat (ns), switches /proc/PID/task/*/status. The clients use
dbus-fast, which sends any match rule with the bus's AddMatch (python-sdbus 0.14.3
cannot add an arg0 match).

    python -m tools.bench.filtering client WANTED SOURCES MODE   (started by the part)
    python -m tools.bench.filtering send FOLDER SOURCES COUNT RATE
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.helpers import Program
from tools.bench.common import (
    ROOT,
    BenchError,
    Figure,
    Options,
    Results,
    Worker,
    context_switches,
    median,
    pin_pid,
    start_worker,
)
from tools.bench.peers import bus_for

SECTION = "filtering"
STEP = ROOT / "steps" / "06_dbus_server"
IFACE = "org.example.Incoming"
SOURCES = (2, 4, 8)
WANTED = "src0"
MODES = ("all", "arg0")
RATE = 250  # datagrams per second from each source: N sources, N times as many for the server
ROUND_TIMEOUT = 120.0  # seconds for one round: only hit when something hangs
METRICS = {  # name: (unit, what)
    "delivered": ("msg/round", "Message signals the client received"),
    "kept": ("msg/round", "of them from src0, the source it wants"),
    "wakeups": ("wakeups/round", "voluntary context switches of the client"),
    "wakeups_per_s": ("wakeups/s", "the same per second of the round"),
    "cpu": ("ms/round", "the client's CPU time"),
    "daemon_cpu": ("ms/round", "dbus-daemon's CPU time"),
}


def names(count: int) -> list[str]:
    return [f"src{i}" for i in range(count)]


def rule(mode: str, wanted: str = WANTED) -> str:
    """The client's match rule: every Message, or only those whose first argument is wanted."""
    every = f"type='signal',interface='{IFACE}',member='Message'"
    return every if mode == "all" else f"{every},arg0='{wanted}'"


def per_round(options: Options) -> int:
    """Datagrams per source and round: a round lasts about per_round / RATE seconds."""
    return 50 if options.quick else 250


def cpu_ns(pid: int) -> int:
    """CPU time of a process so far, in ns, summed over its threads (/proc/PID/task/*/schedstat)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # the thread just ended
            continue
    return total


def wakeups(pid: int) -> int:
    return context_switches(pid)[0]


# --- the part, in the orchestrator ---


def start(args: list[str], options: Options, env: dict[str, str]) -> Worker:
    """A worker of this module (python -m tools.bench.filtering ...), ready."""
    return start_worker(args, options, env, module="tools.bench.filtering")


def one_round(
    client: Worker,
    sender: Worker,
    receiver: Program,
    daemon: int,
    count: int,
    rnd: int,
) -> dict[str, Any]:
    """Flood every source once; what the client got and what it cost the client and daemon."""
    before = cpu_ns(client.pid), wakeups(client.pid), cpu_ns(daemon)
    started = time.monotonic()
    sender.send(op="go", round=rnd)
    for _ in range(count):  # the server has received and emitted all of this round
        receiver.expect(rf": end {rnd}$", timeout=ROUND_TIMEOUT)
    flood = time.monotonic() - started
    reply = client.read(timeout=ROUND_TIMEOUT)
    after = cpu_ns(client.pid), wakeups(client.pid), cpu_ns(daemon)
    sender.read(timeout=ROUND_TIMEOUT)
    woke = after[1] - before[1]
    return {
        "counts": reply["counts"],
        "delivered": reply["delivered"],
        "kept": reply["counts"].get(WANTED, 0),
        "wakeups": woke,
        "wakeups_per_s": woke / flood,
        "cpu": (after[0] - before[0]) / 1e6,
        "daemon_cpu": (after[2] - before[2]) / 1e6,
        "flood_s": flood,
    }


def measure(
    mode: str,
    count: int,
    sender: Worker,
    receiver: Program,
    daemon: int,
    options: Options,
    env: dict[str, str],
) -> list[dict[str, Any]]:
    client = start(["client", WANTED, str(count), mode], options, env)
    try:
        if options.pin:
            pin_pid(client.pid)
        first = 1 + MODES.index(mode) * (options.repeats + 1)  # round numbers never repeat
        one_round(client, sender, receiver, daemon, count, first)  # warm-up
        return [
            one_round(client, sender, receiver, daemon, count, rnd)
            for rnd in range(first + 1, first + 1 + options.repeats)
        ]
    finally:
        client.stop()


def record(results: Results, count: int, rounds: dict[str, list[dict[str, Any]]]) -> None:
    for mode in MODES:
        for metric, (unit, what) in METRICS.items():
            values = [float(r[metric]) for r in rounds[mode]]
            figure = Figure(SECTION, f"N={count}/{mode}/{metric}", unit, median(values), values)
            figure.note = what
            if mode == "arg0":
                base = results.get(SECTION, f"N={count}/all/{metric}")
                if base is not None and base.median > 0:
                    figure.baseline, figure.ratio = base.name, figure.median / base.median
            figure.extra = {"counts": [r["counts"] for r in rounds[mode]]}
            results.add(figure)
    print(
        f"  filtering N={count}: "
        + "; ".join(
            f"{mode}: {median([r['delivered'] for r in rounds[mode]]):.0f} delivered, "
            f"{median([r['wakeups'] for r in rounds[mode]]):.0f} wakeups, "
            f"{median([r['cpu'] for r in rounds[mode]]):.1f} ms CPU"
            for mode in MODES
        ),
        file=sys.stderr,
        flush=True,
    )


def run(options: Options, results: Results) -> None:
    receiver_py = STEP / "receiver.py"
    if not receiver_py.exists():
        results.skip(SECTION, "all", f"{receiver_py.relative_to(ROOT)} does not exist yet")
        return
    for count in SOURCES:
        with (
            bus_for(options) as (private, env),
            tempfile.TemporaryDirectory(prefix="bench-filter-") as folder,
        ):
            assert private.process is not None
            env = {**env, "XDG_RUNTIME_DIR": folder}
            argv = [*options.prefix(), sys.executable, receiver_py.name, *names(count)]
            receiver = Program(argv, cwd=STEP, env=env)
            try:
                receiver.expect(r"on the bus as", timeout=30)
                if options.pin:
                    pin_pid(receiver.pid)
                args = ["send", folder, str(count), str(per_round(options)), str(RATE)]
                with start(args, options, env) as sender:
                    daemon = private.process.pid
                    rounds = {
                        mode: measure(mode, count, sender, receiver, daemon, options, env)
                        for mode in MODES
                    }
                record(results, count, rounds)
            except (AssertionError, BenchError) as error:
                reason = str(error).strip().splitlines()[0]
                results.skip(SECTION, f"N={count}", f"did not run: {reason}")
            finally:
                receiver.stop()


def chart(results: Results, env: dict[str, object], out: Path) -> list[Path]:
    """filtering.png: per N, the client subscribed to all vs with arg0, four panels."""
    figures = results.section(SECTION)
    if not figures:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = ["delivered", "wakeups_per_s", "cpu", "daemon_cpu"]  # a round lasts about 1 s
    titles = {
        "delivered": "Message signals delivered\nto the client, per round",
        "wakeups_per_s": "client wakeups per second\n(voluntary context switches)",
        "cpu": "client CPU time, ms per round",
        "daemon_cpu": "dbus-daemon CPU time,\nms per round",
    }
    counts = [n for n in SOURCES if results.get(SECTION, f"N={n}/all/delivered")]
    fig, axes = plt.subplots(1, len(panels), figsize=(12.8, 4.4), squeeze=False)
    width = 0.38
    colours = {"all": "#c44e52", "arg0": "#4c72b0"}
    labels = {"all": "all Messages, filters itself", "arg0": "arg0='src0' match"}
    for ax, metric in zip(axes[0], panels, strict=True):
        for offset, mode in ((-width / 2, "all"), (width / 2, "arg0")):
            chosen = [results.get(SECTION, f"N={n}/{mode}/{metric}") for n in counts]
            values = [f.median if f else 0.0 for f in chosen]
            low = [f.median - min(f.repeats) if f else 0.0 for f in chosen]
            high = [max(f.repeats) - f.median if f else 0.0 for f in chosen]
            xs = [i + offset for i in range(len(counts))]
            ax.bar(xs, values, width, yerr=[low, high], capsize=3, color=colours[mode])
            if mode == "arg0":
                for x, f in zip(xs, chosen, strict=True):
                    if f is not None and f.ratio is not None:
                        ax.annotate(f"x{f.ratio:.2f}", (x, f.median), ha="center", va="bottom")
        ax.set_xticks(range(len(counts)), [f"N={n}" for n in counts])
        ax.set_title(titles[metric], fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in MODES]
    fig.legend(handles, [labels[m] for m in MODES], loc="lower center", ncol=2)
    fig.suptitle(
        f"N sources feed the step 06 server: one client subscribed to all, or with arg0\n"
        f"({env['pinning']}, medians of {env['repeats']} rounds of"
        f" {per_round(Options(quick=bool(env['quick'])))} per source at {RATE}/s;"
        " bars: min-max; x: arg0 / all)"
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path = out / f"{SECTION}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]


# --- the workers ---


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def client(wanted: str, count: int, mode: str) -> None:
    """Listen with one match rule; after each round, say what arrived from which source."""
    import asyncio

    from dbus_fast import Message, MessageType
    from dbus_fast.aio import MessageBus

    from tools.bench.report_ready import ready

    async def main() -> None:
        bus = await MessageBus().connect()  # $DBUS_SESSION_BUS_ADDRESS: the private bus
        expected = {wanted} if mode == "arg0" else set(names(count))
        counts: dict[str, int] = {}
        ended: set[str] = set()
        kept: list[str] = []  # what "filtering itself" keeps: the wanted source's texts

        def on_message(message: Message) -> None:
            if message.message_type is not MessageType.SIGNAL or message.member != "Message":
                return
            source, _timestamp, text = message.body
            counts[source] = counts.get(source, 0) + 1
            if text.startswith("end ") and source in expected:
                ended.add(source)  # the last of this round from that source: in order
            if source == wanted:  # the client's own filter: all it can do without arg0
                kept.append(text)
            if ended == expected:
                say(delivered=sum(counts.values()), counts=dict(counts), kept=len(kept))
                counts.clear()
                ended.clear()
                kept.clear()

        bus.add_message_handler(on_message)
        await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[rule(mode, wanted)],
            )
        )
        loop = asyncio.get_running_loop()
        closed = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), closed.set)
        ready(rule=rule(mode, wanted))
        await closed.wait()  # stdin closed (or a line we do not need): the orchestrator is done
        bus.disconnect()

    asyncio.run(main())


def send(folder: str, count: int, each: int, rate: float) -> None:
    """Per command {"op": "go", "round": R}: each datagrams to every source, round-robin,
    every source at rate per second, then "end R" to each."""
    from tools.bench.report_ready import ready

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    paths = [os.path.join(folder, name) for name in names(count)]
    ready()
    for line in sys.stdin:
        rnd = int(json.loads(line)["round"])
        start = time.monotonic()
        for seq in range(each):
            for k, path in enumerate(paths):  # staggered: the sources are independent
                delay = start + (seq + k / count) / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing the offered rate, not waiting for an event
                sock.sendto(b"%d" % seq, path)
        for path in paths:
            sock.sendto(b"end %d" % rnd, path)
        say(sent=each * count, round=rnd)


if __name__ == "__main__":
    kind, rest = sys.argv[1], sys.argv[2:]
    if kind == "client":
        client(rest[0], int(rest[1]), rest[2])
    elif kind == "send":
        send(rest[0], int(rest[1]), int(rest[2]), float(rest[3]))
    else:
        raise SystemExit(__doc__)
