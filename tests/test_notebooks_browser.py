"""The notebooks as an attendee uses them: `make notebooks`, JupyterLab in Chromium, Run All.

The server is the one `make notebooks` starts (same target, same config), on 127.0.0.1 with
a free port and a token; Playwright drives Debian's /usr/bin/chromium (never a downloaded
browser). JupyterLab's autosave is off (a settings folder of the test's own), so the
committed notebooks stay without outputs. A failing test leaves a screenshot in build/.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.helpers import wait_until
from tests.notebook_kernel import PAIRED, accepts, free_port, marked_processes
from tools import container, table

if str(table.ROOT / "notebooks") not in sys.path:
    sys.path.insert(0, str(table.ROOT / "notebooks"))
import exercises  # noqa: E402

playwright = pytest.importorskip("playwright.sync_api", reason="playwright: make setup")

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = table.ROOT / "build" / "notebooks-browser"
RUN_ALL = 240_000  # ms: a whole notebook, its exercise check included
SECOND = 1000
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front (others stay attached)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: make test installs it"),
]


@dataclass
class Lab:
    name: str  # "make-notebooks" (this checkout) or "image" (the container image's default command)
    url: str
    token: str
    marker: str
    my_steps: Path  # where the exercises' copies are, on this machine or in the container
    container: str = ""  # the container's id, for the image's lab

    def solve(self, n: int) -> list[str]:
        """As an attendee who gives up: copy the files the exercise names from the finished
        step (tools of the attendee's own: cp, not the notebook), return their names."""
        exercise = exercises.Exercise(n)
        mine = self.my_steps / exercise.step.dir
        for file in exercise.files:
            finished = exercises.folder(n) / file
            if self.container:
                inside = f"{IMAGE_HOME}/{finished.relative_to(table.ROOT)}"
                copy = ["podman", "exec", self.container, "cp", inside, f"{mine}/{file}"]
                subprocess.run(copy, check=True, capture_output=True, timeout=60)
            else:
                shutil.copy2(finished, mine / file)
        return exercise.files


def lab_settings(home: Path) -> Path:
    """JupyterLab's user settings for the tests: autosave off (the committed notebooks stay
    without outputs). The news prompt and the kernel are mk/jupyter/'s, as an attendee has them."""
    settings = home / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text('{"autosave": false}\n')
    return home / "settings"


@pytest.fixture(scope="module", params=["make-notebooks", "image"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab as an attendee starts it: `make notebooks` here, or the container image's
    default command (`make container-run`); with a token, a free port, no autosave."""
    home = tmp_path_factory.mktemp("lab")
    if request.param == "image":
        yield from image_lab(home)
    else:
        yield from make_notebooks(home)


def make_notebooks(home: Path) -> Iterator[Lab]:
    marker = uuid.uuid4().hex
    temp = Path(tempfile.mkdtemp(prefix="nbb-"))  # short: socket paths must fit in 108 bytes
    token = uuid.uuid4().hex
    env = {
        **os.environ,
        "INCOMING_NOTEBOOK_RUN": marker,  # every process the kernels start carries it
        "TMPDIR": str(temp),
        "INCOMING_MY_STEPS": str(home / "my_steps"),
        "JUPYTER_TOKEN": token,
        "BROWSER": "true",
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(lab_settings(home)),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "NB_PORT": str(free_port()),
    }
    env.pop("XDG_RUNTIME_DIR", None)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    before = {p: p.read_bytes() for p in NOTEBOOKS.glob("[0-9][0-9]_*")}
    url: str | None = None
    make = subprocess.Popen(
        ["make", "--no-print-directory", "notebooks"],
        cwd=table.ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert make.stdout is not None
        for line in make.stdout:
            if match := re.search(r"(http://127\.0\.0\.1:(\d+))/lab\?token=", line):
                url, port = match[1], int(match[2])
                break
        assert url is not None, f"make notebooks ended (status {make.wait()}) without serving"
        # Keep reading its log: a pipe nobody reads fills up (64 KiB), and JupyterLab then
        # blocks in write() on its next log line, every request with it.
        SHOTS.mkdir(parents=True, exist_ok=True)
        threading.Thread(
            target=shutil.copyfileobj,
            args=(make.stdout, (SHOTS / "make-notebooks.log").open("w")),
            daemon=True,
        ).start()
        wait_until(lambda: accepts("127.0.0.1", port), "JupyterLab to accept connections")
        yield Lab("make-notebooks", url, token, marker, home / "my_steps")
    finally:
        try:  # as File > Shut Down does: the kernels first, then the server
            shutdown = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(shutdown, timeout=30).close()
            make.wait(timeout=120)
        except (OSError, subprocess.TimeoutExpired, TypeError):
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(timeout=60)
        with contextlib.suppress(AssertionError):  # make ends at once; JupyterLab once done
            wait_until(lambda: not marked_processes(marker), "JupyterLab's processes to end")
        leftovers = marked_processes(marker)
        shutil.rmtree(temp, ignore_errors=True)
    after = {p: p.read_bytes() for p in NOTEBOOKS.glob("[0-9][0-9]_*")}
    assert after == before, "the browser tests changed the committed notebooks"
    assert not leftovers, f"processes left after JupyterLab ended: {leftovers}"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


IMAGE_HOME = "/home/jovyan"  # the Dockerfile's ${HOME}: the repository


def image_lab(home: Path) -> Iterator[Lab]:
    """The image built from this checkout (tests/test_container.py's way), its default command,
    published on 127.0.0.1 with a free port; the test's settings mounted read-only."""
    if reason := container.unavailable():
        pytest.skip(reason)
    try:
        container.ensure_base(echo=False)
        container.build(podman_here=True, echo=False)  # cached layers: seconds
    except container.ContainerError as error:
        pytest.fail(f"container: {error}")
    settings = lab_settings(home)
    os.chmod(home, 0o755)  # the image's user (uid 1000) reads the settings
    token, port = uuid.uuid4().hex, free_port()
    argv = ["podman", "run", "-d", "--rm", *container.PODMAN_RUN, "-p", f"127.0.0.1:{port}:8888"]
    argv += ["-e", f"JUPYTER_TOKEN={token}", "-v", f"{settings}:/tmp/lab-settings:ro"]
    argv += ["-e", "JUPYTERLAB_SETTINGS_DIR=/tmp/lab-settings", container.IMAGE]
    started = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    assert started.returncode == 0, started.stderr
    ident = started.stdout.strip()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(f"{url}/api"), "the image's JupyterLab", timeout=120)
        my_steps = Path(IMAGE_HOME) / "notebooks" / "my_steps"
        yield Lab("image", url, token, "", my_steps, container=ident)
    finally:
        subprocess.run(["podman", "rm", "-f", ident], capture_output=True, check=False)


NOTEBOOKS = table.ROOT / "notebooks"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, lab: Lab) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    yield page
    context.close()
    shut_down_kernels(lab)


def shut_down_kernels(lab: Lab) -> None:
    """As File > Close and Shut Down Notebook does, for every notebook the test opened: a
    kernel left running (08's live plot draws ten frames a second) slows every later check."""
    with urllib.request.urlopen(f"{lab.url}/api/sessions?token={lab.token}") as reply:
        sessions = json.load(reply)
    for session in sessions:
        url = f"{lab.url}/api/sessions/{session['id']}?token={lab.token}"
        wait_until(lambda: deleted(url), "the server to shut the kernel down", timeout=90)  # noqa: B023


def deleted(url: str) -> bool:
    """DELETE url: True once done (or gone). Right after Kernel > Restart the server answers
    500 until the new kernel is up; then it shuts it down."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=60).close()
    except urllib.error.HTTPError as error:
        if error.code == 500:
            return False
        if error.code != 404:
            raise
    return True


@contextlib.contextmanager
def screenshot_on_failure(page: object, name: str) -> Iterator[None]:
    """What JupyterLab showed when a check failed: build/notebooks-browser/failed-NAME.png."""
    try:
        yield
    except BaseException:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"failed-{name}.png"), full_page=True)  # type: ignore[attr-defined]
        raise


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    """Open it, and wait until its kernel runs (a session on the server, its kernel idle)."""
    page.goto(f"{lab.url}/lab/tree/{name}.ipynb?reset&token={lab.token}")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60 * SECOND)

    def started() -> bool:
        accept_kernel_dialog(page)
        return kernel_idle(lab, name)

    wait_until(started, f"{name}'s kernel to start", timeout=90)


def kernel_idle(lab: Lab, name: str) -> bool:
    """The server says the notebook's kernel is idle (started, or restarted)."""
    with urllib.request.urlopen(f"{lab.url}/api/sessions?token={lab.token}") as reply:
        sessions = json.load(reply)
    return any(
        s["path"] == f"{name}.ipynb" and s["kernel"]["execution_state"] == "idle" for s in sessions
    )


def accept_kernel_dialog(page: Any) -> bool:
    """ "Select Kernel" (JupyterLab asks while a kernel starts): its own is preselected."""
    choose = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    if choose.count():
        choose.click()
        return True
    return False


def wait_idle(page: Any, timeout: int = RUN_ALL) -> None:
    """Until the kernel is idle with nothing queued (the toolbar's execution indicator)."""
    page.wait_for_selector(
        f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle'] [aria-valuenow='100']",
        state="attached",
        timeout=timeout,
    )


def menu(page: Any, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel").get_by_text(top, exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text(item, exact=True).click()


def run_all(page: Any) -> None:
    busy = f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='busy']"
    menu(page, "Run", "Run All Cells")
    page.wait_for_selector(f"{busy}, .jp-Dialog", state="attached", timeout=30 * SECOND)
    if accept_kernel_dialog(page):
        menu(page, "Run", "Run All Cells")
    page.wait_for_selector(busy, state="attached", timeout=30 * SECOND)
    wait_idle(page)


def cell(page: Any, text: str) -> Any:
    """The code cell whose source contains text."""
    return page.locator(f"{PANEL} .jp-CodeCell").filter(
        has=page.locator(".jp-InputArea", has_text=text)
    )


def run_cell(page: Any, text: str, wait: bool = True) -> None:
    """Select the cell with text in its source and run it (Ctrl+Enter: no new cell appears
    after the last one, as Shift+Enter's would); wait until it ran."""
    found = cell(page, text)
    prompt = found.locator(".jp-InputPrompt")
    prompt.click()
    before = prompt.inner_text()
    page.keyboard.press("Control+Enter")
    if wait:
        wait_until(
            lambda: (
                bool(re.fullmatch(r"\[\d+\]:", p := prompt.inner_text().strip())) and p != before
            ),
            f"the cell {text!r} to run",
            timeout=RUN_ALL / SECOND,
        )


def errors(page: Any) -> list[str]:
    """Tracebacks the notebook shows."""
    shown = page.locator(
        f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    )
    return [t for t in shown.all_inner_texts() if "Traceback" in t or "Error" in t]


def prompts(page: Any) -> list[str]:
    return [
        t.strip() for t in page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    ]


def canvas_png(page: Any) -> bytes:
    figure = page.locator(f"{PANEL} .jupyter-matplotlib-figure canvas").first
    figure.scroll_into_view_if_needed()
    return figure.screenshot()


def drawn(png: bytes) -> float:
    """The share of a picture's pixels that are ink (dark): a blank canvas has none."""
    grey = Image.open(io.BytesIO(png)).convert("L")
    histogram = grey.histogram()
    return sum(histogram[:128]) / (grey.width * grey.height)


def moves(page: Any) -> tuple[bytes, bytes]:
    """Two pictures of the figure, three seconds apart (while the kernel is idle)."""
    first = canvas_png(page)
    page.wait_for_timeout(3 * SECOND)
    return first, canvas_png(page)


def test_live_plot_draws_after_run_all_and_after_reruns(lab: Lab, page: Any) -> None:
    open_notebook(page, lab, "08_live_plot")
    with screenshot_on_failure(page, f"{lab.name}-08-run-all"):
        run_all(page)
        assert not errors(page), errors(page)
        first, later = moves(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / f"{lab.name}-08-live-after-run-all.png").write_bytes(first)
        assert drawn(first) > 0.002, "the figure's canvas is blank after Run All"
        assert later != first, "the plot did not move while the kernel was idle"
    for round in range(2):
        with screenshot_on_failure(page, f"{lab.name}-08-rerun-{round + 1}"):
            button = page.get_by_role("button", name="Stop the plot")
            button.scroll_into_view_if_needed()
            button.click()
            stopped = round + 1  # each press prints its own line under the button
            wait_until(
                lambda: page.content().count("still running: []") >= stopped,  # noqa: B023
                f"the button's stop number {stopped}",
                timeout=30,
            )
            if round == 0:  # the stopped plot says so in its title (a look: the screenshot)
                (SHOTS / f"{lab.name}-08-stopped.png").write_bytes(canvas_png(page))
            for source in ("talk.bus()", "charts = talk.live_charts"):
                run_cell(page, source)
            run_cell(page, "talk.watch_plot")
            assert not errors(page), errors(page)
            first, later = moves(page)
            (SHOTS / f"{lab.name}-08-live-after-rerun-{round + 1}.png").write_bytes(first)
            assert drawn(first) > 0.002, f"round {round + 1}: the figure is blank"
            assert later != first, f"round {round + 1}: the plot does not move"
    with screenshot_on_failure(page, f"{lab.name}-08-exercise"):
        cell(page, "charts = talk.live_charts").scroll_into_view_if_needed()
        shot(page, lab, "08_live_plot")
        walk_the_exercise(page, lab, NOTEBOOKS / "08_live_plot.ipynb")


def environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(e.split("=", 1) for e in raw.decode(errors="replace").split("\0") if "=" in e)


def started_in(runtime: str) -> list[str]:
    """The processes a kernel started: they carry its RUNTIME folder as $XDG_RUNTIME_DIR."""
    return [
        entry.name
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and environ(int(entry.name)).get("XDG_RUNTIME_DIR") == runtime
    ]


def grader_runtime(lab: Lab) -> str | None:
    """The RUNTIME folder of the kernel whose exercise check is running, once it runs."""
    for line in marked_processes(lab.marker):
        if "tools.grade" in line:
            return environ(int(line.split(":")[0])).get("XDG_RUNTIME_DIR")
    return None


OTHERS = [p for p in PAIRED if p.stem != "08_live_plot"]


def exercise_of(notebook: Path) -> int | None:
    found = re.search(r"talk\.exercise\((\d+)\)", notebook.with_suffix(".py").read_text())
    return int(found[1]) if found else None


def shot(page: Any, lab: Lab, name: str) -> Path:
    """What the attendee sees now: build/notebooks-browser/LAB-NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{lab.name}-{name}.png"
    page.screenshot(path=str(path))
    return path


def walk_the_exercise(page: Any, lab: Lab, notebook: Path) -> None:
    """After Run All: the unsolved check says why and hints; the attendee copies only the files
    the exercise names (each linked by its step folder) from the finished step; it passes, in
    one line. A screenshot of each verdict."""
    n = exercise_of(notebook)
    if n is None:  # 11 has no exercise
        return
    check = cell(page, "exercise.check()")
    unsolved = verdict(check, f"✗ Your step {n:02d} does not pass yet.")
    assert re.search(r"^why: \S", unsolved, re.MULTILINE) and "Hint:" in unsolved, unsolved
    intro = cell(page, f"talk.exercise({n})").locator(".jp-OutputArea-output")
    named = [f"{table.get(n).dir}/{file}" for file in exercises.Exercise(n).files]
    shown = [a.inner_text() for a in intro.locator("a, code").all()]
    assert all(file in shown for file in named), (shown, named)  # links under notebooks/
    shot(page, lab, f"{notebook.stem}-unsolved")
    lab.solve(n)
    run_cell(page, "exercise.check()")
    solved = verdict(check, f"✓ Your step {n:02d} passes").strip()
    assert re.fullmatch(rf"✓ Your step {n:02d} passes \(\d+ tests\)\.", solved), solved
    shot(page, lab, f"{notebook.stem}-solved")


def verdict(check: Any, first: str) -> str:
    """The check cell's output once it starts with first (JupyterLab renders a cell's output
    when it scrolls into view), as text."""
    check.scroll_into_view_if_needed()
    outputs = check.locator(".jp-OutputArea-output")
    outputs.first.filter(has_text=first).wait_for(timeout=60 * SECOND)
    texts: list[str] = []

    def shown() -> bool:  # read again until rendered: under load a read once came back empty
        texts[:] = ["\n".join(outputs.all_inner_texts())]
        return texts[0].startswith(first)

    try:
        wait_until(shown, f"the check's output to start with {first!r}", timeout=60)
    except AssertionError as error:
        raise AssertionError(f"{error}; it reads {texts[0]!r}") from None
    return texts[0]


@pytest.mark.parametrize("notebook", OTHERS, ids=[p.stem for p in OTHERS])
def test_run_all_in_jupyterlab(lab: Lab, page: Any, notebook: Path) -> None:
    """Open, Run All, until the kernel is idle: no traceback, no cell left busy; then the
    exercise, as an attendee walks it."""
    open_notebook(page, lab, notebook.stem)
    with screenshot_on_failure(page, f"{lab.name}-{notebook.stem}"):
        run_all(page)
        assert not errors(page), errors(page)
        assert "[*]:" not in prompts(page), prompts(page)
        walk_the_exercise(page, lab, notebook)
    if notebook.stem != "02_threads" or lab.container:
        return  # the processes of the image's kernels are the container's, gone with it
    # ■ during a check, then Kernel > Restart: nothing the notebook started is left.
    with screenshot_on_failure(page, "02-interrupt-restart"):
        run_cell(page, 'talk.start("receiver", 2', wait=True)
        run_cell(page, "exercise.check()", wait=False)
        wait_until(lambda: grader_runtime(lab) is not None, "the check's grader to start")
        runtime = grader_runtime(lab)
        assert runtime is not None and started_in(runtime)
        page.locator(
            "button[data-command='notebook:interrupt-kernel'], "
            "jp-button[data-command='notebook:interrupt-kernel']"
        ).first.click()
        wait_idle(page)
        menu(page, "Kernel", "Restart Kernel…")
        page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
        wait_until(lambda: not started_in(runtime), "the notebook's programs to end")
        wait_until(lambda: kernel_idle(lab, "02_threads"), "the restarted kernel", timeout=90)


def test_an_untouched_notebook_opens_and_closes_unmodified(lab: Lab, page: Any) -> None:
    """Open a notebook, let its kernel start, close it: nothing to save, no question asked;
    and no news prompt, one kernel in the Launcher (mk/jupyter/)."""
    open_notebook(page, lab, "01_sockets")
    with screenshot_on_failure(page, f"{lab.name}-untouched"):
        page.wait_for_selector(
            f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']", state="attached"
        )  # the kernel answered: JupyterLab wrote its language_info and kernelspec by now
        assert page.locator(".lm-TabBar-tab.jp-mod-dirty").count() == 0, "modified on opening"
        assert "news" not in page.locator(".Toastify").all_inner_texts().__str__().lower()
        menu(page, "File", "Close Tab")
        page.wait_for_function(
            f"() => document.querySelector('.jp-Dialog') || !document.querySelector('{PANEL}')"
        )
        assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").inner_text()
        menu(page, "File", "New Launcher")
        notebook_cards = page.locator(".jp-LauncherCard[data-category='Notebook'] >> visible=true")
        notebook_cards.first.wait_for()
        kernels = [card.get_attribute("title") for card in notebook_cards.all()]
        assert kernels == ["incoming (.venv)"], kernels
        shot(page, lab, "launcher")
