"""`make live-N`: type step N's idea on stage, with its programs running.

    python3 -m tools.live N [--solved]       open the tmux window (a new one inside tmux)
    python3 -m tools.live N --reset          start over: step N without its idea again

live/NN_name/ (ignored by git) is step N without its idea's lines (slides/typed.toml, see
tools/typed.py), kept between runs. One tmux window: an editor where the first missing
hunk goes ($VISUAL, $EDITOR, else nano or vim), the step's receiver (and client)
restarted on every save, a status line that re-runs step N's grader on every save and
shows which of its ideas already work, and an interactive sender.
`Ctrl-b S` (or `s` in the status line) swaps in the finished step and back.
A plotting client (step 08 on) with a display draws in one window that keeps its place and
size across saves (tools/live_window.py; its geometry is kept in live/.plot-window).

The window's first process, the runner (`tools.live runner`), owns everything: the private
bus, the feeder, the other panes. Each program pane runs a small supervisor (`tools.live
pane`, tools/live_pane.py) that restarts its program when told and turns a traceback into one line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import termios
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from tools import bus, grade, ideas, stage, table, typed, xlib
from tools.changes import Saves
from tools.live_pane import supervise

LIVE = Path(os.environ.get("INCOMING_LIVE") or table.ROOT / "live")  # tests use their own
PLOT_WINDOW = LIVE / ".plot-window"  # the live plot window's geometry, across saves and steps
SWAP_KEY = "S"  # Ctrl-b S
EDITOR_COLUMNS = 89  # 88-column code and vim's last column: the projector's 120 leave 30 beside
AT_LINE = {"vim", "vi", "nvim", "nano", "emacs", "micro", "mg", "joe", "jed"}  # take +LINE FILE
PASSED_ON = (  # what the panes need from the environment that started make live-N
    "XDG_RUNTIME_DIR",
    "BUS",
    "GPIO",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "POLL",
    "INCOMING_TEST_TIMEOUT",
    "TMPDIR",
    "INCOMING_LIVE",
)
RED, GREEN, YELLOW, DIM, BOLD, OFF = (f"\x1b[{code}m" for code in ("31", "32", "33", "2", "1", "0"))
WORKS = "\x1b[1;97;42m"  # bold white on green
FINISHED = "\x1b[1;30;43m"  # black on yellow


def tmux(*args: str) -> str:
    """A tmux command on the server we are in (or the default one); its output."""
    result = subprocess.run(["tmux", *args], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"tmux {args[0]}: {result.stderr.strip()}")
    return result.stdout.strip()


def tmux_quiet(*args: str) -> None:
    subprocess.run(["tmux", *args], capture_output=True)


def mine(step: table.Step) -> Path:
    return LIVE / step.dir


def prepare(step: table.Step, reset: bool = False) -> Path:
    """live/NN_name/: step N without its idea's lines (slides/typed.toml); kept unless reset."""
    folder = mine(step)
    if reset and folder.exists():
        shutil.rmtree(folder)
    if not folder.exists():
        LIVE.mkdir(exist_ok=True)
        typed.make_live(step, folder)
    return folder


def from_make() -> list[str]:
    """`env -u NAME ...` for what make live-N did not have: a pane must not take the tmux
    session's DISPLAY (or anything else of PASSED_ON) when the runner has none."""
    missing = [name for name in PASSED_ON if name not in os.environ]
    return ["env", *(part for name in missing for part in ("-u", name))] if missing else []


def plot_window(step: table.Step) -> dict[str, str]:
    """What a plotting client needs in its environment to draw in the live plot window
    (tools/live_window.py), which keeps its place and size across saves; nothing without
    a display that works (chart.py falls back to a picture), without Tk, or with the
    presenter's own MPLBACKEND.
    The repo root goes after the script's own folder in sys.path: the step's chart.py and
    dgram.py are still the ones imported."""
    tk = importlib.util.find_spec("_tkinter") is not None
    if "display" not in step.needs or not stage.has_display() or not tk:
        return {}
    if os.environ.get("MPLBACKEND") or not (os.environ.get("DISPLAY") and xlib.display_works()):
        return {}
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(table.ROOT)]))
    return {
        "MPLBACKEND": "module://tools.live_window",
        "PYTHONPATH": path,
        "INCOMING_PLOT_WINDOW": str(PLOT_WINDOW),
    }


def editor_command() -> str:
    """$VISUAL, $EDITOR, else the first of nano, vim, vi on this machine."""
    chosen = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if chosen:
        return chosen
    return next((name for name in ("nano", "vim", "vi") if shutil.which(name)), "")


# --- the launcher: make live-N ---------------------------------------------------------------


def start(step: table.Step, solved: bool, workers: int | None) -> int:
    if not shutil.which("tmux"):
        print("live: make live-N needs tmux (Debian/Ubuntu: apt install tmux)", file=sys.stderr)
        return 1
    inside = bool(os.environ.get("TMUX"))
    if not inside and not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("live: make live-N needs a terminal (it opens a tmux window)", file=sys.stderr)
        return 1
    folder = prepare(step)
    runner = [sys.executable, "-m", "tools.live", "runner", str(step.n)]
    runner += ["--solved"] * solved + ([f"--workers={workers}"] if workers else [])
    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    env["INCOMING_EDITOR"] = editor_command()
    here = ["-c", str(folder), *(f"-e{name}={value}" for name, value in env.items())]
    name = f"live-{step.n}"
    if inside:
        command = f"cd {shlex.quote(str(table.ROOT))} && exec {shlex.join(runner)}"
        tmux("new-window", "-n", name, *here, command)
        print(f"live: step {step.n} is in the new window {name}; q in its status line closes it")
        return 0
    session = f"incoming-{name}"
    runner += ["--session", session]
    command = f"cd {shlex.quote(str(table.ROOT))} && exec {shlex.join(runner)}"
    width, height = shutil.get_terminal_size((160, 48))
    tmux_quiet("kill-session", "-t", f"={session}")
    size = ["-x", str(width), "-y", str(height)]
    tmux("new-session", "-d", "-s", session, "-n", name, *size, *here, command)
    try:
        subprocess.run(["tmux", "attach-session", "-t", f"={session}"])
    finally:
        end_session(session)
    return 0


def end_session(session: str) -> None:
    """After a detach: the runner stops everything, then the session goes."""
    with contextlib.suppress(RuntimeError, ValueError):
        pid = int(tmux("show-options", "-w", "-v", "-t", f"={session}:", "@incoming_live"))
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    tmux_quiet("kill-session", "-t", f"={session}")


def alive(pid: int) -> bool:
    """Running: there, and not a zombie waiting to be reaped (which may happen between
    the two looks: then it is gone)."""
    try:
        os.kill(pid, 0)
        return not Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")
    except (ProcessLookupError, FileNotFoundError):
        return False
    except PermissionError:  # another user's
        return True


# --- the runner: the status line, owner of everything ---------------------------------------


@dataclass
class Pane:
    role: str  # editor, receiver, client or sender
    id: str
    pid: int


class Runner:
    def __init__(self, step: table.Step, solved: bool, session: str, workers: int | None) -> None:
        self.step = step
        self.mine = mine(step)
        self.finished = step.folder(table.ROOT / "steps")
        self.solved = solved
        self.session = session
        self.active_file = LIVE / f".{step.dir}.active"
        self.grader = ideas.Grader(self.update, workers)
        self.verdict = ideas.Verdict(step)
        others = {path.name for path in self.finished.iterdir() if path.suffix != ".py"}
        self.saves = Saves(self.mine, names=frozenset(others))  # step 11's unit and policy too
        self.note = ""
        self.panes: list[Pane] = []
        self.pane = os.environ.get("TMUX_PANE", "")
        self.window = tmux("display-message", "-p", "-t", self.pane, "#{window_id}")
        self.quit = asyncio.Event()
        self.bound = False

    @property
    def active(self) -> Path:
        return self.finished if self.solved else self.mine

    # -- panes

    def split(
        self, role: str, title: str, target: str, how: list[str], command: str, env: dict[str, str]
    ) -> Pane:
        passed = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
        extra = [f"-e{key}={value}" for key, value in {**passed, **env}.items()]
        line = tmux(
            "split-window", *how, "-t", target, "-c", str(self.mine), *extra,
            "-P", "-F", "#{pane_id} #{pane_pid}", command,
        )  # fmt: skip
        pane_id, pid = line.split()
        tmux("select-pane", "-t", pane_id, "-T", title)
        pane = Pane(role, pane_id, int(pid))
        self.panes.append(pane)
        return pane

    def supervisor(
        self,
        name: str,
        argv: list[str],
        interactive: bool = False,
        env: dict[str, str] | None = None,
    ) -> str:
        """The pane's command; env: for its program only (not the supervisor, not the pane)."""
        command = [sys.executable, "-m", "tools.live", "pane", name, str(self.active_file)]
        command += [f"--env={key}={value}" for key, value in (env or {}).items()]
        command += ["--interactive"] * interactive + ["--", *argv]
        return f"cd {shlex.quote(str(table.ROOT))} && exec {shlex.join(from_make() + command)}"

    def make_panes(self, env: dict[str, str]) -> None:
        extra = {bus.ENV_VAR: env[bus.ENV_VAR]} if bus.ENV_VAR in env else {}
        editor = os.environ.get("INCOMING_EDITOR", "")
        files = typed.files(self.step)
        where, line = typed.opening(self.step)
        if editor:
            again = "printf '\\n(the editor closed: Enter opens it again) '; read _"
            at = f"+{line} " if Path(editor.split()[0]).name in AT_LINE else ""
            loop = f"while :; do {editor} {at}{shlex.quote(where)}; {again}; done"
        else:
            loop = "echo 'no editor found: set EDITOR (e.g. EDITOR=nano make live-N)'; exec cat"
        title = f"editor: live/{self.step.dir}/{files[0]}"
        if files[1:]:
            title += f" (step {self.step.n} also changes {', '.join(files[1:])})"
        edit = self.split(
            "editor", title, self.pane, ["-v", "-b", "-l", "72%"],
            f"exec sh -c {shlex.quote(loop)}", extra,
        )  # fmt: skip
        sockets = stage.receiver_args(self.step)
        width = int(tmux("display-message", "-p", "-t", self.pane, "#{window_width}"))
        beside = max(24, min(width * 45 // 100, width - 1 - EDITOR_COLUMNS))
        receiver = self.split(
            "receiver", "receiver (restarts on every save)", edit.id, ["-h", "-l", str(beside)],
            self.supervisor("receiver", ["receiver.py", *sockets]), extra,
        )  # fmt: skip
        if self.step.client:
            picture = stage.picture_args(self.step, None)
            window = plot_window(self.step)
            self.split(
                "client", f"{self.step.client} (restarts on every save)", receiver.id, ["-v"],
                self.supervisor("client", [self.step.client, *picture], env=window), extra,
            )  # fmt: skip
        sender = self.split(
            "sender", "sender: type a line, Enter sends it", self.pane, ["-v", "-l", "3"],
            self.supervisor("sender", ["sender.py", self.step.sockets[0]], True), extra,
        )  # fmt: skip
        tmux("select-pane", "-t", self.pane, "-T", f"step {self.step.n}: status")
        tmux("set-option", "-w", "-t", self.window, "pane-border-status", "top")
        height = int(tmux("display-message", "-p", "-t", self.pane, "#{window_height}"))
        tmux("resize-pane", "-t", sender.id, "-y", "3")
        tmux("resize-pane", "-t", edit.id, "-y", str(max(5, height - self.status_height() - 6)))
        tmux("set-option", "-w", "-t", self.window, "pane-border-format", " #{pane_title} ")
        tmux("set-option", "-w", "-t", self.window, "remain-on-exit", "off")
        tmux("set-option", "-w", "-t", self.window, "@incoming_live", str(os.getpid()))
        tmux("select-pane", "-t", edit.id)

    def status_height(self) -> int:
        source = grade.grader_for(self.step.n).read_text()
        return min(9, 3 + source.count("@pytest.mark.idea"))

    def bind_swap_key(self) -> None:
        """Ctrl-b S swaps, in whichever live window it is pressed (unless S is taken)."""
        existing = tmux("list-keys", "-T", "prefix")
        bound = re.search(rf"^bind-key\s+(-r\s+)?-T prefix\s+{SWAP_KEY}\s.*", existing, re.M)
        if bound and "@incoming_live" not in bound.group(0):
            return  # the presenter's own binding: s in the status line still swaps
        command = "kill -USR1 #{@incoming_live} 2>/dev/null || true"
        tmux("bind-key", "-T", "prefix", SWAP_KEY, "run-shell", "-b", command)
        self.bound = True

    def unbind_swap_key(self) -> None:
        others = tmux("list-windows", "-a", "-F", "#{window_id} #{@incoming_live}").splitlines()
        if self.bound and not any(
            line.split()[1:] and not line.startswith(self.window + " ") for line in others
        ):
            tmux_quiet("unbind-key", "-T", "prefix", SWAP_KEY)

    # -- what happens

    def write_active(self) -> None:
        self.active_file.write_text(f"{self.active}\n")

    def restart(self, names: tuple[str, ...] = ("receiver", "client")) -> None:
        for pane in self.panes:
            if pane.role in names:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pane.pid, signal.SIGUSR1)

    async def saved(self) -> None:
        if self.solved:
            self.note = "saved: yours runs when you swap back (s)"
            self.draw()
            return
        self.note = ""
        self.restart()
        await self.grader.start(self.step, self.active)

    async def swap(self) -> None:
        self.solved = not self.solved
        self.note = ""
        self.verdict = ideas.Verdict(self.step)
        self.draw()
        self.write_active()
        self.restart(("receiver", "client", "sender"))
        await self.grader.start(self.step, self.active)

    def update(self, verdict: ideas.Verdict) -> None:
        self.verdict = verdict
        self.draw()

    def draw(self) -> None:
        width, height = shutil.get_terminal_size((100, 6))
        width, height = max(20, width), max(2, height)
        verdict, step = self.verdict, self.step
        which = (
            f"{FINISHED} the FINISHED step: steps/{step.dir} {OFF}"
            if self.solved
            else f"yours: live/{step.dir}"
        )
        swap = "yours" if self.solved else "finished"
        keys = f"{DIM}keys here: s (or Ctrl-b S) {swap} · g grade again · q stop{OFF}"
        if verdict.error:
            head = f"{RED}{BOLD}✗ {verdict.error}{OFF}"
        elif verdict.passed:
            took = f"#{verdict.run}, {verdict.seconds:.1f} s"
            head = f"{WORKS} ✔ step {step.n} works {OFF} {DIM}({took}){OFF}"
        elif verdict.finished:
            working = sum(idea.state == "passed" for idea in verdict.ideas)
            total = len(verdict.ideas)
            count = f"{working}/{total} ideas, #{verdict.run}"
            head = f"{RED}✗ step {step.n} does not work yet{OFF} ({count})"
        elif verdict.run:
            head = f"{YELLOW}… grading step {step.n} (#{verdict.run}){OFF}"
        else:
            head = f"{DIM}step {step.n}: waiting for the first grade{OFF}"
        shown = [*verdict.ideas, verdict.basics] if verdict.tests and not verdict.error else []
        lines = [f"{head}  {which}  {keys}", *fit(shown, height - 1 - bool(self.note))]
        if self.note:
            lines.append(f"{YELLOW}{self.note}{OFF}")
        screen = "\x1b[H\x1b[2J" + "\n".join(clip(line, width) for line in lines)
        with contextlib.suppress(OSError):
            sys.stdout.write(screen)
            sys.stdout.flush()

    async def watch_saves(self) -> None:
        async for _ in self.saves:
            await self.saved()

    def key(self) -> None:
        key = os.read(sys.stdin.fileno(), 1)
        if key == b"s":
            asyncio.ensure_future(self.swap())
        elif key == b"g":
            asyncio.ensure_future(self.grader.start(self.step, self.active))
        elif key == b"q":
            self.quit.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.write_active()
        with stage.bus_for(self.step) as env:
            feeder = stage.start_feeder(self.step, env, quiet=True)
            try:
                self.make_panes(env)
                self.bind_swap_key()
                loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(self.swap()))
                for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                    loop.add_signal_handler(signum, self.quit.set)
                loop.add_reader(sys.stdin.fileno(), self.key)
                watching = asyncio.create_task(self.watch_saves())
                await self.grader.start(self.step, self.active)
                await self.quit.wait()
                watching.cancel()
            finally:
                await self.stop(feeder)
        return 0

    async def stop(self, feeder: subprocess.Popen[bytes]) -> None:
        """Everything ends: the grader, the programs (cleanly), the feeder, then the window."""
        self.note = "stopping..."
        self.draw()
        await self.grader.stop()
        programs = [pane for pane in self.panes if pane.role != "editor"]
        for pane in programs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pane.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while any(alive(pane.pid) for pane in programs) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stage.stop([feeder])
        with contextlib.suppress(RuntimeError):
            self.unbind_swap_key()


MARK = {
    "passed": f"{GREEN}✓",
    "failed": f"{RED}✗",
    "skipped": f"{YELLOW}– skipped:",
    "pending": f"{DIM}…",
}


def shown_as(idea: ideas.Idea) -> str:
    why = f"{DIM}: {idea.message}" if idea.message else ""
    return f" {MARK[idea.state]} {idea.label}{OFF}{why}{OFF}"


def fit(shown: list[ideas.Idea], rows: int) -> list[str]:
    """One line per idea, in at most `rows` lines: the ideas not run yet (an idea before them
    failed) become one line when there is no room, so the verdict above never scrolls away."""
    if len(shown) <= rows:
        return [shown_as(idea) for idea in shown]
    lines = [shown_as(idea) for idea in shown if idea.state != "pending"]
    pending = [idea for idea in shown if idea.state == "pending"]
    if pending:
        said = {idea.message for idea in pending}
        why = f": {said.pop()}" if len(said) == 1 and "" not in said else ", not run yet"
        lines.append(f" {DIM}… {len(pending)} more{why}{OFF}")
    if len(lines) > rows:
        lines = [*lines[: max(0, rows - 1)], f" {DIM}… {len(lines) - rows + 1} more{OFF}"]
    return lines[:rows]


def clip(line: str, width: int) -> str:
    """Cut a line with colour codes to width visible characters."""
    out, visible = [], 0
    for part in re.split(r"(\x1b\[[0-9;]*m)", line):
        if part.startswith("\x1b["):
            out.append(part)
            continue
        room = width - visible
        out.append(part[:room])
        visible += min(len(part), room)
    return "".join(out) + OFF


def run_runner(step: table.Step, solved: bool, session: str, workers: int | None) -> int:
    runner = Runner(step, solved, session, workers)
    old = termios.tcgetattr(sys.stdin) if sys.stdin.isatty() else None
    if old is not None:
        tty.setcbreak(sys.stdin)
    sys.stdout.write("\x1b[?25l")  # no cursor in the status line
    try:
        return asyncio.run(runner.run())
    except bus.BusError as error:
        print(f"live: {error}", flush=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt, EOFError):
            input("Enter closes this window ")
        return 1
    finally:
        if old is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(sys.stdin, termios.TCSADRAIN, old)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # closing our own window hangs us up
        if session:
            tmux_quiet("kill-session", "-t", f"={session}")
        else:
            tmux_quiet("kill-window", "-t", runner.window)


# --- command line ----------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    if argv[:1] == ["pane"]:
        parser = argparse.ArgumentParser(prog="tools.live pane")
        parser.add_argument("name")
        parser.add_argument("active", type=Path)
        parser.add_argument("--interactive", action="store_true")
        parser.add_argument("--env", action="append", default=[], help="NAME=VALUE, for argv")
        parser.add_argument("argv", nargs="+")
        pane = parser.parse_args(argv[1:])
        env = dict(item.split("=", 1) for item in pane.env)
        return supervise(pane.name, pane.active, pane.argv, pane.interactive, env)
    runner = argv[:1] == ["runner"]
    parser = argparse.ArgumentParser(prog="make live-N", description=__doc__.splitlines()[0])
    parser.add_argument("n", help="the step number")
    parser.add_argument("--solved", action="store_true", help="start with the finished step")
    parser.add_argument("--reset", action="store_true", help="a fresh copy of step N-1")
    parser.add_argument("--workers", type=int, default=None, help="pytest processes grading")
    parser.add_argument("--session", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv[1:] if runner else argv)
    step = table.get(args.n)
    if runner:
        return run_runner(step, args.solved, args.session, args.workers)
    if args.reset:
        folder = prepare(step, reset=True)
        print(f"live: {os.path.relpath(folder)} is step {step.n} again without its idea")
        return 0
    return start(step, args.solved, args.workers)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
