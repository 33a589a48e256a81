"""What the talk's notebooks share: `import talk` in a notebook's first cell.

- show a step's code from the step files themselves: show(), diff()
- run a step's programs in the background, stopped with the kernel: start(), send(), sender()
- a private D-Bus daemon for the D-Bus chapters, and the kernel's own connection to it: bus()
- the exercises, graded by the same graders as `make check-N`: exercise() (exercises.py)

Every program a notebook starts is a child of the kernel, in the kernel's process
group: Jupyter's interrupt (and a kernel that is killed) signals the whole group,
so they stop with it; a kernel that shuts down normally stops them in its
weakref finalizers (run at exit). Starting a program again under the same role
stops the previous one first, so a re-run cell never finds its socket in use.
The sockets of one kernel live in a folder of their own (its $XDG_RUNTIME_DIR),
so two notebooks, or a notebook and `make step-N`, never meet.
"""

from __future__ import annotations

import ast
import asyncio
import collections
import contextlib
import datetime
import difflib
import importlib.util
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the kernel runs in notebooks/; the tools live one level up
    sys.path.insert(0, str(ROOT))

from IPython.display import Code, Markdown, display  # noqa: E402

from tests.helpers import TIMEOUT, Program, thread_count, wait_until  # noqa: E402
from tests.helpers import send as send_datagrams  # noqa: E402
from tools import bus as private_bus  # noqa: E402
from tools import table  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"

# This kernel's sockets: a folder of its own, removed when the kernel ends.
RUNTIME = Path(tempfile.mkdtemp(prefix="incoming-nb-"))
os.environ["XDG_RUNTIME_DIR"] = str(RUNTIME)
weakref.finalize(sys.modules[__name__], shutil.rmtree, str(RUNTIME), ignore_errors=True)

_running: dict[str, Background] = {}


def _interrupted(
    shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None
) -> None:
    """■ (or Ctrl-C): one line saying what stopped, instead of asyncio's CancelledError traceback.

    Jupyter's interrupt signals the kernel's whole process group: the programs started
    here stop with the cell, and the next cell that needs them starts them again.
    """
    what = list(_running)  # the interrupt reached them too
    if _bus is not None:
        what.append("the private bus")
    print(f"■ interrupted: stopped this cell{' and ' + ', '.join(what) if what else ''}")


def _on_interrupt_say_what_stopped() -> None:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((KeyboardInterrupt, asyncio.CancelledError), _interrupted)


def folder(n: int) -> Path:
    """Step n's folder in the repo (always the repo's steps/, never an attendee's copy)."""
    return table.get(n).folder(table.ROOT / "steps")


def intro(n: int) -> None:
    """The step's title and idea, from steps/steps.toml."""
    s = table.get(n)
    display(Markdown(f"**Step {s.n:02d}: {s.title}.** {s.idea}  \n`steps/{s.dir}/`"))


# --- showing code from the step files ---------------------------------------------------------


def source(n: int, file: str, *names: str) -> str:
    """A step file's text, or just the top-level functions/classes/assignments called names."""
    text = (folder(n) / file).read_text()
    if not names:
        return text
    lines = text.splitlines()
    found: dict[str, str] = {}
    for node in ast.parse(text).body:
        name = getattr(node, "name", None)
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            name = next((t.id for t in targets if isinstance(t, ast.Name)), None)
        if name in names:
            decorators = getattr(node, "decorator_list", [])
            first = min([node.lineno, *(d.lineno for d in decorators)])
            found[name] = "\n".join(lines[first - 1 : node.end_lineno])
    missing = [name for name in names if name not in found]
    if missing:
        raise LookupError(f"steps/{table.get(n).dir}/{file}: no {', '.join(missing)}")
    return "\n\n\n".join(found[name] for name in names)


def show(n: int, file: str = "receiver.py", *names: str) -> Code:
    """Step n's file (or some of its functions), highlighted: read from the file, never pasted."""
    return Code(source(n, file, *names), language="python")


def diff(n: int, file: str = "receiver.py") -> Code:
    """What step n changed in file since step n-1 (`make diff-N` shows all files)."""
    old_file = folder(n - 1) / file
    old = old_file.read_text().splitlines(keepends=True) if old_file.exists() else []
    new = (folder(n) / file).read_text().splitlines(keepends=True)
    a, b = f"{table.get(n - 1).dir}/{file}", f"{table.get(n).dir}/{file}"
    return Code("".join(difflib.unified_diff(old, new, a, b)), language="diff")


def load(n: int, file: str) -> ModuleType:
    """Import a step's module into the kernel (e.g. to await its coroutines on the kernel's loop).

    It is imported under its own name, as the step's programs import it, with its
    siblings (dgram.py, interface.py, ...) from the same folder, whatever another step
    put into sys.modules before; importing it again (a re-run cell) returns the same module.
    """
    where = folder(n)
    name = Path(file).stem
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").parent == where:
        return loaded
    for sibling in where.glob("*.py"):
        module = sys.modules.get(sibling.stem)
        if module is not None and Path(getattr(module, "__file__", "") or "").parent != where:
            del sys.modules[sibling.stem]
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(where))


# --- running a step's programs ----------------------------------------------------------------


class Background:
    """A program running in the background; its output lines are kept for showing."""

    def __init__(self, role: str, argv: Sequence[str], cwd: Path) -> None:
        self.role = role
        self.program = Program([sys.executable, *argv], cwd=cwd, env=dict(os.environ))
        self.shown = self.shown_errors = 0  # how many lines show() printed already
        watch(self, self.program.process, self.program.stop)

    @property
    def pid(self) -> int:
        return self.program.pid

    @property
    def running(self) -> bool:
        return self.program.process.poll() is None

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """Wait for an output line matching the regex, return it (fails with what came instead)."""
        return self.program.expect(pattern, timeout).group(0)

    def wait_for(self, *texts: str) -> None:
        """Wait until each text has been printed as the end of a line, in this order."""
        for text in texts:
            self.expect(re.escape(text) + "$")

    def expect_each(self, *patterns: str, count: int = 1) -> None:
        """Wait until each regex has matched count more times in the output, in any order."""
        remaining = dict.fromkeys(patterns, count)
        while any(left > 0 for left in remaining.values()):
            line = self.program.expect(".*").group(0)  # the next line, whatever it says
            for pattern in remaining:
                remaining[pattern] -= len(re.findall(pattern, line))

    def wait_for_error(self, pattern: str) -> None:
        """Wait until a line on its stderr matches the regex."""
        regex = re.compile(pattern)
        what = f"{self.role} to say {pattern!r} on stderr"
        wait_until(lambda: any(regex.search(line) for line in self.program.stderr), what)

    def lines(self) -> list[str]:
        return list(self.program.stdout)

    def show(self, everything: bool = False, matching: str = "") -> None:
        """Print the output lines that were not shown yet (or all of them); with matching,
        only the lines (stdout and stderr) that match that regex."""
        lines = self.lines()
        new = lines if everything else lines[self.shown :]
        self.shown = len(lines)
        errors = list(self.program.stderr)
        new_errors = errors if everything else errors[self.shown_errors :]
        self.shown_errors = len(errors)
        if matching:
            new = [line for line in new if re.search(matching, line)]
            new_errors = [line for line in new_errors if re.search(matching, line)]
        shown = [f"{self.role} | {shorten(line)}" for line in new]
        print("\n".join(shown) or f"{self.role} | (nothing new)")
        for line in new_errors:
            print(f"{self.role} ! {line}")

    def threads(self) -> list[tuple[int, str]]:
        """(thread id, where in the kernel it waits) for each of its threads (/proc/PID/task)."""
        rows = []
        for task in sorted(Path(f"/proc/{self.pid}/task").iterdir(), key=lambda p: int(p.name)):
            try:
                wchan = (task / "wchan").read_text().strip() or "running"
            except OSError:
                wchan = "?"
            rows.append((int(task.name), "running" if wchan == "0" else wchan))
        return rows

    def show_threads(self) -> None:
        count = thread_count(self.pid)
        print(f"{self.role} (pid {self.pid}): {count} thread{'s' * (count != 1)}")
        for tid, wchan in self.threads():
            print(f"  thread {tid}: waiting in {wchan}")

    def stop(self) -> int | None:
        """SIGTERM, as Ctrl-C in a terminal would; return its exit status."""
        self.program.stop()
        if _running.get(self.role) is self:
            del _running[self.role]
        return self.program.process.returncode

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.program.process.returncode}"
        return f"<{self.role}: {' '.join(self.program.argv[1:])} ({state})>"


def watch(owner: object, process: subprocess.Popen[Any], stop: Callable[[], object]) -> None:
    """stop() the process when owner goes (or the kernel exits); reap it as soon as it ends.

    A child that ended but is not reaped stays a zombie, and ipykernel's shutdown waits
    for the children in its process group to go away, zombies too.
    """
    weakref.finalize(owner, stop)  # stop must not refer to owner, or owner lives forever
    threading.Thread(target=process.wait, daemon=True).start()


def shorten(line: str, width: int = 100) -> str:
    return line if len(line) <= width else f"{line[:width]}… ({len(line)} characters)"


def start(
    role: str,
    n: int,
    *args: str,
    program: str = "receiver.py",
    ready: str = r"^listening on ",
    count: int | None = None,
) -> Background:
    """Start step n's program (receiver.py by default) as `role`, replacing an earlier one.

    Returns once it printed `ready` count times (default: once per socket name in args,
    at least once). Its environment is the kernel's: this kernel's socket folder, and
    the private bus once bus() started it.
    """
    running = _start(role, [program, *args], folder(n))
    names = list(itertools.takewhile(lambda arg: not arg.startswith("-"), args))
    for _ in range(count if count is not None else max(1, len(names))):
        running.expect(ready)
    running.show()
    return running


def _start(role: str, argv: list[str], cwd: Path) -> Background:
    stop(role)
    running = _running[role] = Background(role, argv, cwd)
    return running


def feeder(*names: str, rate: float = 5.0) -> Background:
    """tools/feeder.py in the background, as `make step-N` runs it: real data, rate per second."""
    running = _start("feeder", ["-m", "tools.feeder", *names, "--rate", str(rate)], ROOT)
    print(f"feeder: {rate:g} datagrams a second to each of {', '.join(names)} (tools/feeder.py)")
    return running


def stop(role: str | None = None) -> None:
    """Stop the program started as role (or every one, and the private bus, for role=None)."""
    roles = [role] if role is not None else list(_running)
    for name in roles:
        running = _running.pop(name, None)
        if running is not None:
            running.stop()
    if role is None:
        stop_bus()


def running() -> list[Background]:
    return [r for r in _running.values() if r.running]


def path(name: str) -> str:
    """Where a socket called name is, for this kernel (the steps' dgram.path_for rule)."""
    return table.socket_path(name)


def exists(name: str) -> bool:
    """Is there a file (a socket left behind?) where a socket called name goes."""
    return os.path.lexists(path(name))


def send(name: str, *payloads: bytes | str) -> None:
    """Send datagrams straight to a socket, from the kernel."""
    send_datagrams(path(name), *(p.encode() if isinstance(p, str) else p for p in payloads))


def feed(*names: str, count: int = 5, rate: float = 20.0) -> None:
    """Real data, as `make step-N` sends it (tools/feeder.py): count ticks to each socket."""
    command = [sys.executable, "-m", "tools.feeder", *names, "--count", str(count)]
    subprocess.run([*command, "--rate", str(rate)], cwd=ROOT, check=True, timeout=60)
    print(f"fed {count} datagrams to each of {', '.join(names)} (tools/feeder.py)")


def run(n: int, program: str, *args: str, stdin: str = "") -> None:
    """Run one of step n's programs to its end, from its folder; show what it said."""
    result = subprocess.run(
        [sys.executable, program, *args],
        cwd=folder(n),
        input=stdin.encode(),
        capture_output=True,
        timeout=60,
    )
    lines = stdin.splitlines()
    piped = f"printf {stdin!r} | " if stdin else ""
    if len(lines) > 3:  # a long input, in one line: its first and last lines
        piped = f"printf '{lines[0]}\\n…{lines[-1]}\\n' ({len(lines)} lines) | "
    print(f"$ {piped}python3 {' '.join([program, *args])}   -> exit status {result.returncode}")
    for line in (result.stdout + result.stderr).decode(errors="replace").splitlines():
        print(f"  {shorten(line)}")


def sender(n: int, name: str, lines: Iterable[str]) -> None:
    """Run step n's own sender.py with lines on its standard input, as `printf ... | sender.py`."""
    run(n, "sender.py", name, stdin="".join(f"{line}\n" for line in lines))


# --- the private D-Bus daemon ------------------------------------------------------------------


@dataclass
class _Bus:
    daemon: private_bus.Bus
    connection: Any  # the kernel's own sdbus.SdBus, the default bus of sdbus calls here


_bus: _Bus | None = None

# Every connection stop_bus() closed, kept until the kernel exits. python-sdbus forgets
# a connection's socket on the event loop by its number, twice: in close(), and again
# when the SdBus object is freed. Closing gives the number back to the kernel, and the
# next bus() connection gets that same number; when the user's old proxy and tasks (a
# re-run cell replaces them) finally free the old object, it took the new connection's
# socket off the loop, and no signal or reply ever arrived again. Kept here, the old
# object is never freed while the kernel runs.
_closed: list[Any] = []


def bus() -> private_bus.Bus:
    """A private dbus-daemon for this kernel (tools/bus.py), started once; it is the session bus
    of every program started afterwards, and the kernel's own default sdbus connection."""
    global _bus
    if _bus is not None and _bus.daemon.process and _bus.daemon.process.poll() is None:
        return _bus.daemon
    stop_bus()  # a dead one (an interrupt stops it too): forget it and our connection to it
    import sdbus

    daemon = private_bus.start(RUNTIME / "bus")
    assert daemon.process is not None
    os.environ[private_bus.ENV_VAR] = daemon.address
    connection = sdbus.sd_bus_open_user()  # reads $DBUS_SESSION_BUS_ADDRESS: ours
    sdbus.set_default_bus(connection)
    _bus = _Bus(daemon, connection)
    watch(_bus, daemon.process, daemon.stop)
    print(f"private bus: {private_bus.ENV_VAR}={daemon.address}")
    return daemon


def stop_bus() -> None:
    global _bus
    if _bus is None:
        return
    _bus.connection.close()
    _closed.append(_bus.connection)  # never freed while the kernel lives: see _closed
    _bus.daemon.stop()
    os.environ.pop(private_bus.ENV_VAR, None)
    _bus = None


def print_messages(messages: Sequence[tuple[str, int, str]], limit: int = 12) -> None:
    """Message signals (source, timestamp_ns, text) as a table: how many, and the first few."""
    counts = collections.Counter(source for source, _, _ in messages)
    print(f"{len(messages)} messages: " + ", ".join(f"{n} from {s}" for s, n in counts.items()))
    for source, timestamp_ns, text in messages[:limit]:
        clock = datetime.datetime.fromtimestamp(timestamp_ns / 1e9).strftime("%H:%M:%S.%f")[:-3]
        print(f"  {clock}  {source:<12} {text}")
    if len(messages) > limit:
        print(f"  … and {len(messages) - limit} more")


def busctl(*args: str) -> None:
    """Run `busctl --user ARGS` on this kernel's private bus, and show what it says."""
    result = subprocess.run(["busctl", "--user", *args], capture_output=True, text=True, timeout=30)
    print(f"$ busctl --user {' '.join(args)}")
    print((result.stdout + result.stderr).rstrip())


async def for_seconds(seconds: float, iterator: Any) -> list[Any]:
    """Collect what an async iterator (e.g. a D-Bus signal) yields within seconds."""
    items: list[Any] = []

    async def collect() -> None:
        async for item in iterator:
            items.append(item)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(collect(), seconds)
    return items


# --- the live plot ------------------------------------------------------------------------------


def plot_mode() -> str:
    """How plots appear: "widget" live (ipympl; JupyterLab runs us), or "static" (a picture).

    jupyter_server names the notebook in $JPY_SESSION_NAME for the kernels it starts;
    nbclient and nbconvert do not. $INCOMING_PLOT=widget or static decides instead.
    """
    chosen = os.environ.get("INCOMING_PLOT")
    if chosen in ("widget", "static"):
        return chosen
    has_ipympl = importlib.util.find_spec("ipympl") is not None
    return "widget" if os.environ.get("JPY_SESSION_NAME") and has_ipympl else "static"


def plotting() -> str:
    """Choose matplotlib's backend for this notebook (%matplotlib widget or inline)."""
    from IPython import get_ipython

    mode = plot_mode()
    shell = get_ipython()
    if shell is not None:
        shell.run_line_magic("matplotlib", "widget" if mode == "widget" else "inline")
    what = "live, in the notebook (ipympl)" if mode == "widget" else "a picture (headless run)"
    print(f"plots: {what}")
    return mode


def live_charts(chart: ModuleType) -> Any:
    """Step 08's chart.LiveCharts, drawing live in JupyterLab or into a picture headless.

    LiveCharts picks matplotlib's Agg (no window) when there is no $DISPLAY, and a kernel
    has none; in JupyterLab the widget backend is the display, so we give it back.
    """
    charts = chart.LiveCharts(save=str(RUNTIME / "plot.png"))
    charts.add = _time_from_first_message(charts.add, charts)
    _charts.add(charts)
    if plot_mode() == "widget":
        charts.plt.switch_backend("widget")
        charts.headless = False
        charts.draw = _pushing(charts.draw, charts)
        charts.setup = _browser_on_loop(charts.setup, charts, asyncio.get_running_loop())
    return charts


_charts: weakref.WeakSet[Any] = weakref.WeakSet()  # every live_charts(): Stop retitles them


def _time_from_first_message(add: Callable[[str, int, str], None], charts: Any) -> Any:
    """charts.add, with the time axis starting at the first message, not at LiveCharts():
    under Run All the chart exists seconds before the first message arrives, and every line
    would start that far to the right of the axis's 0."""

    def add_from_first(source: str, timestamp_ns: int, text: str) -> None:
        if not charts.series or all(s.received == 0 for s in charts.series.values()):
            charts.start_ns = timestamp_ns
        add(source, timestamp_ns, text)

    return add_from_first


def _say_stopped() -> None:
    """The live charts' titles say so once Stop ended their tasks (ipympl keeps the figure)."""
    for charts in list(_charts):
        if charts.figure is not None and not charts.headless:
            title = charts.figure._suptitle
            if title is not None:
                title.set_text(title.get_text().replace(", live", ", stopped"))
            charts.figure.canvas.draw()


def _browser_on_loop(
    setup: Callable[[Any], None], charts: Any, loop: asyncio.AbstractEventLoop
) -> Callable[[Any], None]:
    """charts.setup, then the new figure's messages from the browser handled on the kernel's loop.

    JupyterLab sends widget messages on a kernel subshell: ipykernel handles them in a
    thread of their own. ipympl answers the browser's "draw" (its reply to draw_idle)
    by drawing the figure there, while redraw() draws the same figure on the kernel's
    loop: two threads in one Agg renderer, which can leave it drawing nothing at all
    (a blank figure whose data keeps coming, seen after Run All and after re-runs).
    On the loop, the browser's requests run between frames, never during one.
    """

    def setup_then_hop(sources: Any) -> None:
        setup(sources)
        canvas = charts.figure.canvas
        canvas.header_visible = False  # no "Figure 1": the title says what it is
        canvas.toolbar_position = "right"  # not over the first chart's y-axis labels
        if canvas in _on_loop:  # the same sources again: setup kept its figure
            return
        _on_loop.add(canvas)
        handle = canvas._handle_message

        def on_loop(widget: Any, content: Any, buffers: Any) -> None:
            loop.call_soon_threadsafe(handle, widget, content, buffers)

        for widget in (canvas, canvas.toolbar):  # both pass the browser's messages to handle
            widget.on_msg(handle, remove=True)
            widget.on_msg(on_loop)

    return setup_then_hop


_on_loop: weakref.WeakSet[Any] = weakref.WeakSet()


def _pushing(draw: Callable[[], bool], charts: Any) -> Callable[[], bool]:
    """charts.draw, then the picture sent to the widget from here, each frame.

    The step's draw() ends with canvas.draw_idle(), which in ipympl only asks the browser
    to ask back for a picture: a round trip through the kernel's shell channel. Under
    "Run All" that channel is busy with the queued cells, so the request waits behind all
    of them and the figure stays empty. canvas.draw() renders and sends the picture at
    once (kernel to browser needs no answer).
    """

    def draw_and_push() -> bool:
        going = draw()
        if charts.figure is not None:
            charts.figure.canvas.draw()
        return going

    return draw_and_push


def step_tasks() -> list[asyncio.Task[Any]]:
    """The tasks on the kernel's loop that run a step's code: the plot's, from every run of its
    cells (a re-run charts cell makes new tasks; a stop cell that is not re-run knows the old)."""
    steps = str(ROOT / "steps")
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "cr_code", None) is not None
        and task.get_coro().cr_code.co_filename.startswith(steps)  # type: ignore[union-attr]
    ]


def stop_button() -> None:
    """Live: a button that stops the plot's tasks, the programs and the bus. Headless: stop now.

    "Run All" runs every cell, and a stop cell would end the live plot a moment after it
    started; a button is only pressed by a person. Widget messages may be handled in a
    thread of their own (a kernel subshell): the tasks are cancelled on the kernel's loop.
    """
    loop = asyncio.get_running_loop()

    def cancel_step_tasks() -> None:
        for task in step_tasks():
            task.cancel()
        _say_stopped()

    def stop_all() -> None:
        loop.call_soon_threadsafe(cancel_step_tasks)
        stop()
        print("stopped the plot, the programs and the bus; still running:", running())

    if plot_mode() != "widget":
        stop_all()
        return
    import ipywidgets

    button = ipywidgets.Button(description="Stop the plot", icon="stop")
    output = ipywidgets.Output()
    button.on_click(lambda _: _in(output, stop_all))
    display(ipywidgets.VBox([button, output]))


def _in(output: Any, action: Callable[[], None]) -> None:
    with output:
        action()


async def watch_plot(charts: Any, seconds: float) -> None:
    """Let the charts' tasks run for seconds; headless, then show the picture they drew."""
    await asyncio.sleep(seconds)  # the tasks on the kernel's loop collect and draw meanwhile
    for source, series in charts.series.items():
        print(f"{source}: {series.received} messages")
    if charts.headless:
        charts.save()
        show_image(charts.save_to)
    else:
        print("the plot above is live: it goes on moving while the kernel is idle")


def show_image(file: str | Path) -> None:
    from IPython.display import Image

    display(Image(filename=str(file)))


# --- exercises (notebooks/exercises.py) --------------------------------------------------------

from exercises import EXERCISES, Exercise, Start, exercise  # noqa: E402, F401

_on_interrupt_say_what_stopped()
