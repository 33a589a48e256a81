"""make live-N's plot window (tools/live_window.py) on a real X server (Xvfb).

Step 08's real client, against a real private bus and the step's receiver, restarted as a
save restarts it (the pane supervisor, SIGUSR1): its next window comes up where the
presenter moved the last one, at the size they gave it, and never larger than 1280x720.
Waits are on the window itself (xdotool, xwininfo), never a bare sleep.
"""

from __future__ import annotations

import importlib.util
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.helpers import Program, python, wait_until
from tests.tmux_server import Tmux, needs_tmux
from tools import bus, live, live_window, table

STEP = table.get(8)  # the first plotting step
SCREEN = "1920x1080"  # larger than the projector's: the 1280x720 limit is the window's own
X_TOOLS = ("Xvfb", "xdotool", "xwininfo", "xprop")
SEEN = "_INCOMING_TEST_SEEN"
WINDOW_TIMEOUT = 60.0  # seconds for a client to start and map its window on a busy machine

pytestmark = pytest.mark.skipif(
    not all(map(shutil.which, X_TOOLS)) or importlib.util.find_spec("_tkinter") is None,
    reason=f"needs {', '.join(X_TOOLS)} (make live-window-setup) and tkinter",
)


@pytest.fixture
def display() -> Iterator[str]:
    """A virtual X server of the test's own; its number is the one it says it took."""
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{SCREEN}x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 30)
        number = os.read(read, 64).decode().strip() if ready else ""
        assert number.isdigit(), "why: Xvfb never said which display it took"
        yield f":{number}"
    finally:
        os.close(read)
        server.terminate()
        server.wait(timeout=10)


def x(display: str, *argv: str, timeout: float = 30) -> str:
    """An X tool's output. Xvfb here now and then hangs up on a connection made just as
    another closes (any client's): such a try is made again."""
    for _ in range(5):
        result = subprocess.run(
            argv,
            env={**os.environ, "DISPLAY": display},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if "open display" not in result.stderr:
            return result.stdout
    raise AssertionError(f"why: {argv[0]} could not connect to {display}: {result.stderr}")


def windows(display: str) -> list[str]:
    """The plot windows shown now (mapped, with the live window's title)."""
    return x(display, "xdotool", "search", "--onlyvisible", "--name", live_window.TITLE).split()


def mark_as_seen(display: str, window: str) -> None:
    """A property of the test's own on a window: the next client's window may get the same
    id once this one's client has gone (X reuses them), but it will not have this."""
    x(display, "xprop", "-id", window, "-f", SEEN, "8s", "-set", SEEN, "yes")


def said(program: Program) -> str:
    return "the client's pane shows:\n" + "\n".join(program.stdout[-10:] + program.stderr[-10:])


def changed(display: str, before: set[str]) -> bool:
    return set(windows(display)) != before


def a_new_window(display: str, program: Program) -> str:
    """Wait for a plot window not marked as seen to be shown; its id. xdotool waits for the
    window on one connection (polling with new ones would race the client's own)."""
    deadline = time.monotonic() + WINDOW_TIMEOUT
    while time.monotonic() < deadline and program.process.poll() is None:
        search = ["xdotool", "search", "--sync", "--onlyvisible", "--name", live_window.TITLE]
        try:
            shown = x(display, *search, timeout=max(1.0, deadline - time.monotonic())).split()
        except subprocess.TimeoutExpired:
            break
        fresh = [w for w in shown if "yes" not in x(display, "xprop", "-id", w, SEEN)]
        if fresh:
            return fresh[0]
        wait_until(partial(changed, display, set(shown)), "the old window to go", 10)
    tree = x(display, "xwininfo", "-root", "-children")
    raise AssertionError(f"why: no new plot window\n{said(program)}\nthe screen has:{tree}")


def geometry(display: str, window: str) -> live_window.Geometry:
    """Where the window is on the screen, toolbar included (xwininfo, not Tk's word)."""
    info = x(display, "xwininfo", "-id", window)
    number = {
        key: int(re.search(rf"{key}:\s+(-?\d+)", info).group(1))  # type: ignore[union-attr]
        for key in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")
    }
    return live_window.Geometry(
        number["Width"], number["Height"],
        number["Absolute upper-left X"], number["Absolute upper-left Y"],
    )  # fmt: skip


def saved(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def within_the_projector(shape: live_window.Geometry) -> bool:
    return shape.width <= 1280 and shape.height <= 720


def test_the_plot_window_keeps_its_place_and_size_across_restarts(
    display: str,
    tmp_path: Path,
    runtime_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    programs: list[Program],
) -> None:
    folder = STEP.folder(table.ROOT / "steps")
    state = tmp_path / "live" / ".plot-window"
    monkeypatch.setattr(live, "PLOT_WINDOW", state)
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    window_env = live.plot_window(STEP)  # what make live-8's client pane passes
    assert window_env["MPLBACKEND"] == "module://tools.live_window", window_env
    with bus.private_bus(tmp_path / "bus") as private:
        env = {**private.env, "DISPLAY": display}
        receiver = python(folder / "receiver.py", tmp_path / "load", "--gpio", "none:0", env=env)
        programs.append(receiver)
        receiver.expect(r"^on the bus as org\.example\.Incoming$")
        active = tmp_path / "active"
        active.write_text(f"{folder}\n")
        supervisor = Program(
            [sys.executable, "-m", "tools.live", "pane", "client", str(active),
             *(f"--env={key}={value}" for key, value in window_env.items()),
             "--", STEP.client],
            cwd=table.ROOT, env=env,
        )  # fmt: skip
        programs.append(supervisor)

        # the first window: on the right of 1280x720, toolbar included, not focused on map
        supervisor.expect(r"^one chart each for: ", WINDOW_TIMEOUT)
        first = a_new_window(display, supervisor)
        shape = geometry(display, first)
        assert shape.x + shape.width == 1280 and shape.y == 0, shape
        assert within_the_projector(shape) and shape.height > 600 * 0.5, shape
        assert "_NET_WM_USER_TIME(CARDINAL) = 0" in x(
            display, "xprop", "-id", first, "_NET_WM_USER_TIME"
        )

        # the presenter moves and resizes it; a save restarts the client
        x(display, "xdotool", "windowmove", first, "60", "40")
        x(display, "xdotool", "windowsize", first, "700", "500")
        wait_until(lambda: saved(state) == "700x500+60+40", "the geometry to be kept", 30)
        mark_as_seen(display, first)
        supervisor.signal(signal.SIGUSR1)
        second = a_new_window(display, supervisor)
        assert windows(display) == [second], f"one plot window at a time\n{said(supervisor)}"
        assert geometry(display, second) == live_window.Geometry(700, 500, 60, 40)
        assert x(display, "xdotool", "getwindowname", second).strip() == live_window.TITLE

        # made larger than the projector (this screen is larger): the next one fits it again
        x(display, "xdotool", "windowsize", second, "1900", "1000")
        wait_until(lambda: saved(state).startswith("1900x1000+"), "the new size to be kept", 30)
        mark_as_seen(display, second)
        supervisor.signal(signal.SIGUSR1)
        third = a_new_window(display, supervisor)
        shape = geometry(display, third)
        assert shape == live_window.Geometry(1280, 720, 60, 40), shape
        supervisor.signal(signal.SIGTERM)
        assert supervisor.wait(30) == 0


def test_geometry_fits_the_projector_and_the_screen() -> None:
    fit, default, Geometry = live_window.fit, live_window.default, live_window.Geometry
    assert default((800, 650), (1920, 1080)) == Geometry(800, 650, 480, 0)
    assert default((1400, 900), (1920, 1080)) == Geometry(1280, 680, 0, 0)  # a title bar's room
    assert default((800, 650), (1024, 768)) == Geometry(800, 650, 224, 0)
    assert fit(Geometry(700, 500, 60, 40), (1920, 1080)) == Geometry(700, 500, 60, 40)
    assert fit(Geometry(2000, 900, 1800, -30), (1920, 1080)) == Geometry(1280, 720, 640, 0)
    assert live_window.parse("640x480+-5+10") == Geometry(640, 480, -5, 10)
    assert live_window.parse("1x1+0+0") is None and live_window.parse("junk") is None


def test_the_backend_goes_only_to_a_plotting_client_with_a_display(
    display: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", display)
    assert live.plot_window(table.get(7)) == {}, "step 07's client prints, it does not plot"
    assert live.plot_window(STEP)["MPLBACKEND"] == "module://tools.live_window"
    monkeypatch.setenv("MPLBACKEND", "QtAgg")
    assert live.plot_window(STEP) == {}, "the presenter's own backend is theirs"
    monkeypatch.delenv("MPLBACKEND")
    monkeypatch.setenv("DISPLAY", ":77")  # no X server there: chart.py falls back to a picture
    assert live.plot_window(STEP) == {}, "a display that does not work: as before"
    monkeypatch.delenv("DISPLAY")
    assert live.plot_window(STEP) == {}, "no display: chart.py writes a picture, as before"


def test_the_step_still_imports_its_own_modules(
    display: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repo root on PYTHONPATH comes after the script's folder: chart.py and dgram.py
    are the step's (and no module of the repo root could take the place of a step's)."""
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    env = {**os.environ, **live.plot_window(STEP)}
    probe = tmp_path / "probe.py"
    (tmp_path / "chart.py").write_text("")
    probe.write_text(
        "import sys, chart, importlib.util\n"
        "print(chart.__file__)\n"
        "print(importlib.util.find_spec('tools.live_window').origin)\n"
    )
    result = subprocess.run(
        [sys.executable, str(probe)], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [
        str(tmp_path / "chart.py"),
        str(table.ROOT / "tools" / "live_window.py"),
    ]
    for step in table.load():
        for module in step.folder(table.ROOT / "steps").glob("*.py"):
            assert not (table.ROOT / module.name).exists(), module.name


@needs_tmux()
def test_make_live_gives_the_backend_to_the_plotting_client_only(
    display: str, tmp_path: Path
) -> None:
    """make live-8 SOLVED=1 on a display: the client pane's program draws in the live window,
    which comes up on that display; the receiver, the sender and the supervisors do not
    have the backend, nor the repo root on their PYTHONPATH."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "INCOMING_LIVE": str(tmp_path / "live")}
    env.pop("MPLBACKEND", None)
    tmux = Tmux({**env, "EDITOR": "cat"})
    try:
        command = f"cd {table.ROOT} && env -u TMUX DISPLAY={display} make live-8 SOLVED=1"
        tmux("new-session", "-d", "-s", "presenter", "-x", "120", "-y", "35",
             f"{command}; echo make-ended-$?; sleep 300")  # fmt: skip
        client = tmux.pane("client.py", 60)
        receiver = tmux.pane("receiver", 10)
        sender = tmux.pane("sender", 10)
        tmux.wait_for(client, "one chart each for:", 120, history=True)
        wait_until(lambda: bool(windows(display)), "the plot window", WINDOW_TIMEOUT)

        def environ(pid: int) -> dict[str, str]:
            items = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            return dict(item.decode().split("=", 1) for item in items if b"=" in item)

        def program_of(pane: str) -> tuple[dict[str, str], dict[str, str]]:
            """The pane supervisor's environment, and its program's."""
            pid = int(tmux("display-message", "-p", "-t", pane, "#{pane_pid}"))
            children: list[str] = []

            def started() -> bool:
                children[:] = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                return bool(children)

            wait_until(started, f"the program of pane {pane}", 30)
            return environ(pid), environ(int(children[0]))

        supervisor, plotting = program_of(client)
        assert plotting.get("MPLBACKEND") == "module://tools.live_window"
        assert str(table.ROOT) in plotting["PYTHONPATH"].split(os.pathsep)
        assert plotting["INCOMING_PLOT_WINDOW"] == str(tmp_path / "live" / ".plot-window")
        assert "MPLBACKEND" not in supervisor
        for pane in (receiver, sender):
            for seen in program_of(pane):
                assert "MPLBACKEND" not in seen and "INCOMING_PLOT_WINDOW" not in seen, pane
        status = tmux.pane("step 8: status", 10)
        tmux("send-keys", "-t", status, "q")
        tmux.wait_for("presenter", "make-ended-0", 60)
        wait_until(lambda: not windows(display), "the plot window to close", 30)
    finally:
        tmux.kill()
