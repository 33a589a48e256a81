"""`make sniff`: capture the private bus while a step runs, then read the capture with tshark.

    python3 -m tools.sniff [--step N] [--seconds S] [--out DIR] [--all]

On a private dbus-daemon (tools/bus.py), `busctl --user capture` becomes a monitor
(org.freedesktop.DBus.Monitoring.BecomeMonitor) and writes every message to a pcapng
file. Meanwhile the step's server (default: the newest step on the bus) runs on its
sockets with the feeder for S seconds; GetIncoming is called once with busctl, and,
where the step has one, snapshot.py asks for the recent messages (a Unix fd passed).
Then tshark, which dissects D-Bus, turns the capture into one line per message:
method calls, replies, errors and signals with their arguments. The capture stays in
build/sniff/step-NN.pcapng for Wireshark; the server's own output beside it.

The seeds hoped kdbus would let tcpdump see the bus; a monitor does it in userspace.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import Program, wait_until
from tools import bus, table

OUT = table.ROOT / "build" / "sniff"
NAME = "org.example.Incoming"
PATH = "/org/example/Incoming"
TYPES = {1: "call", 2: "reply", 3: "error", 4: "signal"}
RATE = 5.0  # feeder datagrams per second and socket
TIMEOUT = 30.0  # seconds for any one thing to happen: only reached when something is wrong
MARKER = "sniff.end.x"  # the name sniff asks about last: its reply closes the capture
NO_TSHARK = "tshark not found: run make sniff-setup (Debian: apt install tshark)"


class UnixFd(int):
    """An 'h' argument: the index of a file descriptor passed beside the message."""


class SniffError(RuntimeError):
    """The capture could not be made or read; the message is one line for the user."""


@dataclass
class Message:
    """One D-Bus message of the capture, as tshark dissected it."""

    number: int
    time: float  # seconds since the first message of the capture
    kind: str  # call, reply, error, signal
    sender: str = ""
    destination: str = ""
    path: str = ""
    interface: str = ""
    member: str = ""
    signature: str = ""
    error_name: str = ""
    serial: int = 0
    reply_serial: int = 0
    unix_fds: int = 0
    args: list[object] = field(default_factory=list)

    def line(self) -> str:
        route = f"{self.sender} -> {self.destination or '*'}"
        args = ", ".join(show(arg) for arg in self.args)
        if self.kind == "call":
            what = f"{self.member}({args})  {self.path}"
        elif self.kind == "signal":
            what = f"{self.interface}.{self.member}({args})"
        elif self.kind == "error":
            what = f"{self.error_name}({args})  to #{self.reply_serial}"
        else:
            what = f"'{self.signature}' {args}  to #{self.reply_serial}"
        fds = f"  [{self.unix_fds} Unix fd passed]" if self.unix_fds else ""
        return f"{self.number:5} {self.time:9.6f}  {self.kind:<6} {route:<38} {what}{fds}"


def show(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        head = json.dumps(value[:40].decode(errors="replace"), ensure_ascii=False)
        return f"ay[{len(value)} bytes: {head}{'…' if len(value) > 40 else ''}]"
    if isinstance(value, UnixFd):
        return f"<Unix fd #{int(value)} of the message>"
    if isinstance(value, list):
        return "[" + ", ".join(show(item) for item in value) + "]"
    return str(value)


# ---------------------------------------------------------------------------------------------
# Reading a capture with tshark


def body_values(pairs: list[tuple[str, object]]) -> list[object]:
    """The arguments of a message body, in order, from tshark's JSON tree (ordered pairs)."""
    values: list[object] = []
    for key, value in pairs:
        if key == "dbus.type.array_tree" and isinstance(value, list):
            items = body_values(value)
            if items and all(isinstance(item, int) and key_of(value) == "byte" for item in items):
                values.append(bytes(items))  # type: ignore[arg-type]
            else:
                values.append(items)
        elif key in (
            "dbus.type.struct_tree",
            "dbus.type.variant_tree",
            "dbus.type.dict_entry_tree",
        ):
            values.append(body_values(value))  # type: ignore[arg-type]
        elif key.endswith("_tree") or key in ("dbus.type.array.length", "dbus.padding"):
            continue
        elif key in ("dbus.type.array", "dbus.type.struct", "dbus.type.variant"):
            continue  # their raw bytes; the _tree beside them holds the values
        elif key.startswith("dbus.type."):
            kind = key.removeprefix("dbus.type.")
            if kind in ("string", "object_path", "signature", "variant.signature"):
                values.append(str(value))
            elif kind == "boolean":
                values.append(value in ("1", "True", "true"))
            elif kind == "double":
                values.append(float(str(value)))
            elif kind == "unix_fd":
                values.append(UnixFd(int(str(value), 0)))
            else:
                values.append(int(str(value), 0))
    return values


def key_of(pairs: list[tuple[str, object]]) -> str:
    """The element type of an array tree: "byte" for ay, ..."""
    for key, _ in pairs:
        if key.startswith("dbus.type.") and key != "dbus.type.array.length":
            return key.removeprefix("dbus.type.")
    return ""


def find(pairs: list[tuple[str, object]], wanted: str) -> Iterator[object]:
    """Every value under the key wanted, anywhere in the tree."""
    for key, value in pairs:
        if key == wanted:
            yield value
        if isinstance(value, list) and value and isinstance(value[0], tuple):
            yield from find(value, wanted)


def first(pairs: list[tuple[str, object]], wanted: str, default: object = "") -> object:
    return next(find(pairs, wanted), default)


def read(capture: Path) -> list[Message]:
    """Every D-Bus message in a pcapng capture, dissected by tshark."""
    if shutil.which("tshark") is None:
        raise SniffError(NO_TSHARK)
    result = subprocess.run(
        ["tshark", "-r", str(capture), "-T", "json", "-Y", "dbus"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if "Running as user" not in line]
        raise SniffError(f"tshark could not read {capture}: {' '.join(lines) or result.returncode}")
    packets = json.loads(result.stdout or "[]", object_pairs_hook=list)
    messages = []
    for packet in packets:
        layers = first(packet, "layers")
        assert isinstance(layers, list)
        dbus = first(layers, "dbus")
        frame = first(layers, "frame")
        assert isinstance(dbus, list) and isinstance(frame, list)
        body = first(dbus, "dbus.body_tree", [])
        messages.append(
            Message(
                number=int(str(first(frame, "frame.number"))),
                time=float(str(first(frame, "frame.time_relative"))),
                kind=TYPES.get(int(str(first(dbus, "dbus.message_type", 0))), "?"),
                sender=str(first(dbus, "dbus.sender")),
                destination=str(first(dbus, "dbus.destination")),
                path=str(first(dbus, "dbus.path")),
                interface=str(first(dbus, "dbus.interface")),
                member=str(first(dbus, "dbus.member")),
                signature=str(first(dbus, "dbus.signature")),
                error_name=str(first(dbus, "dbus.error_name")),
                serial=int(str(first(dbus, "dbus.serial", 0))),
                reply_serial=int(str(first(dbus, "dbus.reply_serial", 0))),
                unix_fds=int(str(first(dbus, "dbus.unix_fds", 0))),
                args=body_values(body) if isinstance(body, list) else [],
            )
        )
    return messages


def signals(messages: list[Message], member: str) -> list[list[object]]:
    """The arguments of every signal of org.example.Incoming called member, in order."""
    return [
        m.args
        for m in messages
        if m.kind == "signal" and m.interface == NAME and m.member == member
    ]


# ---------------------------------------------------------------------------------------------
# Making a capture


def busctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["busctl", "--user", *args], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def capture(step: table.Step, seconds: float, out: Path) -> Path:
    """Run step on a private bus under `busctl capture`; return the pcapng file."""
    folder = step.folder()
    if "bus" not in step.needs:
        raise SniffError(f"step {step.n} does not use the bus: nothing to sniff (steps 6 on)")
    if shutil.which("busctl") is None:
        raise SniffError("busctl not found: install systemd (it comes with busctl)")
    out.mkdir(parents=True, exist_ok=True)
    pcap = out / f"step-{step.n:02d}.pcapng"
    log = out / f"step-{step.n:02d}.receiver.txt"
    programs: list[Program] = []
    with (
        bus.private_bus() as private,
        tempfile.TemporaryDirectory(prefix="sniff-") as runtime,
    ):
        env = {**private.env, "XDG_RUNTIME_DIR": runtime, "PYTHONPATH": str(table.ROOT)}
        try:
            # stdout (the pcapng) to the file; its "Monitoring ..." line to us: it is ready
            script = 'exec busctl --user capture 2>&1 >"$0"'
            monitor = Program(["sh", "-c", script, str(pcap)], env=env)
            programs.append(monitor)
            expect(monitor, r"Monitoring bus message stream", "busctl capture to start")
            sockets = [os.path.join(runtime, name) for name in step.sockets]
            receiver = Program([sys.executable, "receiver.py", *sockets], cwd=folder, env=env)
            programs.append(receiver)
            expect(receiver, rf"^on the bus as {re.escape(NAME)}$", "the server to be on the bus")
            busctl(env, "call", NAME, PATH, NAME, "GetIncoming")
            count = str(max(1, int(seconds * RATE)))
            feeder = Program(
                [
                    sys.executable,
                    "-m",
                    "tools.feeder",
                    *sockets,
                    "--rate",
                    str(RATE),
                    "--count",
                    count,
                ],
                cwd=table.ROOT,
                env=env,
            )
            programs.append(feeder)
            if feeder.wait(timeout=seconds + TIMEOUT) != 0:
                raise SniffError(f"the feeder failed: {' '.join(feeder.stderr[-1:])}")
            if (folder / "snapshot.py").exists():  # a method call answered with a Unix fd
                snapshot = Program(
                    [sys.executable, "snapshot.py", "--last", "0"], cwd=folder, env=env
                )
                programs.append(snapshot)
                snapshot.wait(timeout=TIMEOUT)
            receiver.stop()  # SIGTERM: what it emitted is on its way, then it leaves the bus
            log.write_text("\n".join(receiver.stdout) + "\n")
            flush(env, pcap)
        except AssertionError as error:
            raise SniffError(str(error).splitlines()[0]) from None
        finally:
            for program in reversed(programs):
                program.stop()
    return pcap


def expect(program: Program, pattern: str, what: str) -> None:
    try:
        program.expect(pattern, timeout=TIMEOUT)
    except AssertionError:
        said = " ".join((program.stderr or program.stdout)[-2:])
        raise SniffError(f"waited in vain for {what}: {said or 'no output'}") from None


def flush(env: dict[str, str], pcap: Path) -> None:
    """Return once everything the server sent is in the capture file.

    The daemon reads a client until its end before it drops its name, and passes
    messages on to the monitor in the order it handles them: once the name is gone,
    a call with a fresh marker, seen in the file, comes after all of them.
    """

    daemon = ["org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus"]

    def gone() -> bool:
        return busctl(env, "call", *daemon, "NameHasOwner", "s", NAME).stdout.strip() == "b false"

    wait_until(gone, f"{NAME} to leave the bus", TIMEOUT)
    marker = f"{MARKER}{uuid.uuid4().hex}"
    busctl(env, "call", *daemon, "NameHasOwner", "s", marker)
    wait_until(lambda: marker.encode() in pcap.read_bytes(), "the capture to catch up", TIMEOUT)


# ---------------------------------------------------------------------------------------------


def newest_bus_step() -> table.Step:
    steps = [step for step in table.load() if "bus" in step.needs]
    if not steps:
        raise SniffError("no step uses the bus yet (steps/steps.toml)")
    return steps[-1]


def summary(messages: list[Message], everything: bool) -> Iterator[str]:
    """One line per message to or from the server, and the replies to those calls."""
    asked: set[tuple[str, int]] = set()
    shown = 0
    for m in messages:
        ours = NAME in (m.destination, m.interface)
        if m.kind == "call" and ours:
            asked.add((m.sender, m.serial))
        answer = m.kind in ("reply", "error") and (m.destination, m.reply_serial) in asked
        if everything or ours or answer:
            shown += 1
            yield m.line()
    if len(messages) > shown:
        yield f"      ({len(messages) - shown} more: the bus's own messages; --all shows them)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make sniff", description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=None, help="the step (default: the newest)")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long the feeder sends")
    parser.add_argument("--out", type=Path, default=OUT, help="where the capture goes")
    parser.add_argument("--all", action="store_true", help="also the bus's own messages")
    parser.add_argument("--read", type=Path, help="only summarise an existing capture")
    args = parser.parse_args(argv)
    try:
        if args.read:
            pcap = args.read
        else:
            step = table.get(args.step) if args.step else newest_bus_step()
            print(f"sniff: step {step.label}, {args.seconds:g} s, on a private bus", flush=True)
            pcap = capture(step, args.seconds, args.out)
        messages = read(pcap)
    except (SniffError, bus.BusError) as error:
        print(f"sniff: {error}", file=sys.stderr)
        return 1
    for line in summary(messages, args.all):
        print(line)
    counted = {member: len(signals(messages, member)) for member in ("Message", "MessageFrom")}
    counts = ", ".join(f"{n} {member}" for member, n in counted.items() if n)
    print(f"\nsniff: {len(messages)} messages ({counts or 'no signals'}) in {pcap}", flush=True)
    if not args.read:
        print("sniff: open it in Wireshark, or: tshark -r FILE -V | less", flush=True)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
    sys.exit(130)
