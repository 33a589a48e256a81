"""`make step-N`: run step N for the audience, with everything it needs.

    python3 -m tools.stage N [--steps DIR] [--seconds S] [--no-tmux]

Starts the step's receiver on the socket names from steps/steps.toml, a feeder
that sends real data to them (tools/feeder.py), the step's client if it has one,
and a private D-Bus daemon for the steps that need a bus (BUS=session uses yours).
On a terminal with tmux, each program gets a pane and the bottom one is an
interactive sender (inside tmux: in a new window of the session); otherwise
their output is interleaved here, each line prefixed with the program's name.
Ctrl-C (or --seconds) stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tools import bus, table

READY_TIMEOUT = 15.0  # seconds for the receiver to say "listening on" for each socket


class Relay(threading.Thread):
    """Copies a child's output to ours, prefixed, and counts its "listening on" lines."""

    def __init__(self, name: str, process: subprocess.Popen[str], ready_after: int) -> None:
        super().__init__(daemon=True)
        self.prefix = f"{name:>8} | "
        self.process = process
        self.ready_after = ready_after
        self.ready = threading.Event()

    def run(self) -> None:
        assert self.process.stdout is not None
        listening = 0
        for line in self.process.stdout:
            print(self.prefix + line, end="", flush=True)
            listening += line.startswith("listening on")
            if listening >= self.ready_after:
                self.ready.set()
        self.ready.set()  # the program ended: nobody is going to wait any longer


def start(name: str, argv: list[str], cwd: Path, env: dict[str, str], ready_after: int = 0):
    """argv [python, FILE, ...] with FILE of the step folder cwd, run in the run folder:
    a program that writes a file of its own (a headless plot.png) never writes into steps/."""
    argv = [argv[0], str(cwd / argv[1]), *argv[2:]]
    process = subprocess.Popen(
        argv, cwd=outside(), env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    relay = Relay(name, process, ready_after)
    relay.start()
    return process, relay


def start_feeder(step: table.Step, env: dict[str, str], quiet: bool) -> subprocess.Popen[bytes]:
    """tools/feeder.py sending real data to the step's sockets."""
    return subprocess.Popen(
        [sys.executable, "-m", "tools.feeder", *step.sockets],
        cwd=table.ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else None,
    )


def stop(processes: Sequence[subprocess.Popen[Any]]) -> None:
    """SIGTERM ends every step program cleanly (it removes its socket files)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def bus_for(step: table.Step) -> Iterator[dict[str, str]]:
    """The environment for the step: with a private bus if it needs one."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if "bus" not in step.needs or os.environ.get("BUS", "private") == "session":
        yield env
        return
    with bus.private_bus() as private:
        print(f"private bus: {bus.ENV_VAR}={private.address}", flush=True)
        yield {**env, bus.ENV_VAR: private.address}


def receiver_args(step: table.Step) -> list[str]:
    """The step's sockets, and GPIO=CHIP:LINE (e.g. from make gpio-sim) for the GPIO steps."""
    gpio = os.environ.get("GPIO")
    return [*step.sockets, *(["--gpio", gpio] if gpio and "gpio" in step.needs else [])]


def outside() -> Path:
    """Where step programs run (their cwd): the run folder, never a step's folder."""
    folder = table.run_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def displays() -> list[str]:
    """tmux -e options with make's DISPLAY and WAYLAND_DISPLAY, for a pane's environment."""
    return [f"-e{name}={os.environ[name]}" for name in DISPLAYS if os.environ.get(name)]


def without_displays() -> str:
    """`env -u DISPLAY ` for the displays make did not have (the tmux session may have one)."""
    missing = [name for name in DISPLAYS if not os.environ.get(name)]
    return "env " + " ".join(f"-u {name}" for name in missing) + " " if missing else ""


DISPLAYS = ("DISPLAY", "WAYLAND_DISPLAY")


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def picture_args(step: table.Step, seconds: float | None) -> list[str]:
    """For a plotting client with no screen to draw on: collect, then write a picture."""
    if "display" not in step.needs or has_display():
        return []
    picture = table.run_dir() / f"plot-step-{step.n}.png"
    picture.parent.mkdir(parents=True, exist_ok=True)
    return ["--save", str(picture), "--seconds", str(seconds or 10)]


def run_plain(step: table.Step, folder: Path, env: dict[str, str], seconds: float | None) -> int:
    python = sys.executable
    headless = picture_args(step, seconds)
    receiver, relay = start(
        "receiver", [python, "receiver.py", *receiver_args(step)], folder, env, len(step.sockets)
    )
    processes = [receiver]
    try:
        if not relay.ready.wait(READY_TIMEOUT) or receiver.poll() is not None:
            receiver.wait(timeout=5)
            print(f"stage: the receiver ended (exit status {receiver.returncode})", file=sys.stderr)
            return receiver.returncode or 1
        processes.append(start_feeder(step, env, quiet=False))
        client = None
        if step.client:
            client = start("client", [python, step.client, *headless], folder, env)[0]
            processes.append(client)
        sender = Path(os.path.relpath(folder, Path.cwd())) / "sender.py"
        print(
            f"stage: type your own: python3 {sender} {step.sockets[0]}   (Ctrl-C stops)", flush=True
        )
        if client is not None and headless:
            print(f"stage: no display: the plot goes to {headless[1]}", flush=True)
            client.wait(timeout=(seconds or 10) + 30)  # it writes its picture, then ends
            return client.returncode
        receiver.wait(timeout=seconds)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        pass
    finally:
        stop(processes)
        relay.join(timeout=5)
    return 0


def tmux(*args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["tmux", *args], check=check, stdout=subprocess.PIPE, text=True,
        stderr=None if check else subprocess.DEVNULL,
    )  # fmt: skip
    return result.stdout.strip()


def panes(window: str) -> list[tuple[str, bool]]:
    """The window's panes: (id, dead?); none once the window is gone."""
    listed = tmux("list-panes", "-t", window, "-F", "#{pane_id} #{pane_dead}", check=False)
    return [(line.split()[0], line.endswith(" 1")) for line in listed.splitlines()]


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    """Poll tmux for something no event tells us (a pane ending, a window closing)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def run_tmux(step: table.Step, folder: Path, env: dict[str, str], inside: bool) -> int:
    """One pane per program, the bottom one an interactive sender.

    Outside tmux: a session of its own, left with Ctrl-b d. Inside tmux (presenters live
    there): a new window in the presenter's session, left with Ctrl-C in the sender.
    """
    name = f"incoming-step-{step.n}"
    python = shlex.quote(sys.executable)
    sockets = " ".join(shlex.quote(arg) for arg in receiver_args(step))
    here = [
        "-c",
        str(outside()),  # programs run by their path: nothing they write lands in steps/
        *([f"-e{bus.ENV_VAR}={env[bus.ENV_VAR]}"] if bus.ENV_VAR in env else []),
        *displays(),
    ]
    python = without_displays() + python

    def file(name: str) -> str:
        return shlex.quote(str(folder.resolve() / name))

    receiver = f"{python} {file('receiver.py')} {sockets}"
    if inside:
        window = tmux(
            "new-window", "-P", "-F", "#{window_id}", "-n", f"step-{step.n}", *here, receiver
        )
    else:
        tmux("kill-session", "-t", f"={name}", check=False)
        tmux("new-session", "-d", "-s", name, "-n", f"step-{step.n}", *here, receiver)
        window = f"={name}:"
    tmux("set-option", "-w", "-t", window, "remain-on-exit", "on")  # an error stays readable
    if step.client:
        picture = " ".join(shlex.quote(arg) for arg in picture_args(step, None))
        tmux("split-window", "-h", "-t", window, *here, f"{python} {file(step.client)} {picture}")
    sender = f"{python} {file('sender.py')} {shlex.quote(step.sockets[0])}"
    tmux("split-window", "-v", "-f", "-l", "30%", "-t", window, *here, sender)
    leave = "Ctrl-C in the sender: stop" if inside else "Ctrl-b d: stop"
    tmux("set-option", "-w", "-t", window, "pane-border-status", "top")
    title = f" step {step.n}: {step.title} | {leave} "
    tmux("set-option", "-w", "-t", window, "pane-border-format", title)
    feeder = start_feeder(step, env, quiet=True)  # its errors would scribble over the panes
    try:
        if inside:  # until the sender ends (Ctrl-C, Ctrl-D) or the window is closed
            wait_for(lambda: not panes(window) or panes(window)[-1][1], float("inf"))
        else:
            subprocess.run(["tmux", "attach-session", "-t", f"={name}"])
    finally:
        for pane, dead in panes(window):  # Ctrl-C in every pane: the programs end cleanly
            if not dead:
                tmux("send-keys", "-t", pane, "C-c", check=False)
        wait_for(lambda: all(dead for _, dead in panes(window)), 5)
        tmux("kill-window" if inside else "kill-session", "-t", window, check=False)
        stop([feeder])
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make step-N", description=__doc__.splitlines()[0])
    parser.add_argument("n", help="the step number")
    parser.add_argument(
        "--steps", default=None, help="the steps folder (default: $STEPS or steps/)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("DURATION") or 0),
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument("--no-tmux", action="store_true", help="never use tmux panes")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in background
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    step = table.get(args.n)
    folder = step.folder(args.steps)
    if not folder.is_dir():
        print(f"stage: {folder}: no such folder for step {step.n}", file=sys.stderr)
        return 1
    print(f"step {step.n}: {step.title}. {step.idea}", flush=True)
    use_tmux = (
        sys.stdout.isatty() and shutil.which("tmux") and not args.no_tmux and not args.seconds
    )
    try:
        with bus_for(step) as env:
            if use_tmux:
                return run_tmux(step, folder, env, inside=bool(os.environ.get("TMUX")))
            return run_plain(step, folder, env, args.seconds or None)
    except bus.BusError as error:
        print(f"stage: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
