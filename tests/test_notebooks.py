"""The attendees' notebooks (notebooks/): committed clean, paired with their .py, and working.

Each notebook is executed top to bottom, headless, on the venv's kernel "incoming" (as
`make notebooks` would run it), and the test reads what its cells produced: the messages
that arrived, the code shown from the step files, the grader's verdict, the plot. Every
process a kernel starts carries a marker in its environment; none may be left afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import fcntl
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from PIL import Image
from tornado.websocket import websocket_connect

from tests.helpers import wait_until
from tools import table

NOTEBOOKS = table.ROOT / "notebooks"
PAIRED = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
KERNEL = "incoming"
CELL_TIMEOUT = 180  # seconds per cell: the exercise checks run a grader
TIMES = table.ROOT / "build" / "notebook-times.json"

# What the tagged cells of each notebook must print: regexes searched in the cell's text,
# or (regex, n): at least n lines match.
Expectation = str | tuple[str, int]


def unsolved(n: int) -> list[Expectation]:
    """The check cell of an exercise nobody did yet: grader n fails, and says the hint."""
    return [r"does not pass yet", rf"FAILED tests/graders/test_step{n:02d}\.py::", r"Hint:"]


LOAD, SINE = r"load: \d+\.\d+", r"sine: -?\d\.\d{3}"  # step 02's threads may share a line
EXPECTED: dict[str, dict[str, list[Expectation]]] = {
    "01_sockets": {
        "arrived": [
            r"receiver \| incoming: hello from the notebook\n",
            r"receiver \| incoming: a second datagram\n",
        ],
        "odd": [
            r"incoming: \(empty datagram\)",
            r"incoming: \(not UTF-8, 11 bytes\)",
            r"incoming: \(truncated to 1024 bytes\) x+… \(",
            r"incoming: still fine",
        ],
        "stopped": [r"exit status: 0\n", r"socket file left behind: False"],
        "check": unsolved(1),
    },
    "02_threads": {
        "arrived": [(LOAD, 5), (SINE, 5)],
        "sent": [r"receiver \| sine: not a number, but it arrives"],
        "threads": [r"receiver \(pid \d+\): 3 threads\n"],
        "check": unsolved(2),
    },
    "03_asyncio": {
        "pending": [r"is the task done\? False"],
        "in-kernel": [r"the task is done: True and recvmsg\(\) returned b'wake up'"],
        "arrived3": [r"receiver \| incoming: hello, event loop", r"\): 1 thread\n"],
        "arrived4": [(LOAD, 5), (SINE, 5)],
        "threads": [r"receiver \(pid \d+\): 1 thread\n"],
        "check": unsolved(4),
    },
    "05_event_sources": {
        "arrived": [
            (LOAD, 5),
            (SINE, 5),
            (r"^receiver \| simulated:0: rising \[\d+ ns\]$", 2),
            (r"^receiver \| simulated:0: falling \[\d+ ns\]$", 2),
        ],
        "threads": [r"receiver \(pid \d+\): 2 threads\n"],
        "bad-line": [
            r"receiver \| load: still here",
            r"receiver ! gpio: gpiochip99:3: .*\(want CHIP:LINE",
        ],
        "can": [  # a kernel without CAN (this machine) says so; with vcan0, the frame arrives
            r"receiver \| load: still here",
            r"receiver ! can: vcan0: .*no CAN support|receiver \| vcan0: 123#DEADBEEF",
        ],
        "check": unsolved(5),
    },
    "06_dbus_server": {
        "busctl": [r'as 3 "load" "sine" "simulated:0"'],
        "get-incoming": [r"GetIncoming\(\) -> \['load', 'sine', 'simulated:0'\]"],
        "signals": [
            r"\d+ messages: ",
            (r"^  [\d:.]+  load +\d+\.\d+$", 1),
            (r"^  [\d:.]+  sine +-?\d\.\d{3}$", 1),
            r"\d+ from simulated:0",
        ],
        "stopped": [r"still running: \[\]"],
        "check": unsolved(6),
    },
    "07_client": {
        "arrived": [
            r"client \| org.example.Incoming is here \(:1\.\d+\)",
            r"client \| the server listens on: load, sine, simulated:0",
            (r"^client \| load: \d+\.\d+  \(\d+\.\d ms ago\)$", 2),
            (r"^client \| sine: -?\d\.\d{3}  \(\d+\.\d ms ago\)$", 2),
            (r"^client \| simulated:0: (rising|falling)  \(\d+\.\d ms ago\)$", 2),
        ],
        "restart": [
            r"client \| org.example.Incoming is gone; waiting for it to come back\n"
            r"client \| org.example.Incoming is here \(:1\.\d+\)\n"
            r"client \| the server listens on: load, sine, simulated:0\n",
            (r"^client \| load: ", 2),
        ],
        "in-kernel": [(r"^load: \d+\.\d+  \(\d+\.\d ms ago\)$", 1)],
        "arg0": [  # python-sdbus gets every source; the arg0 match only load's
            r"python-sdbus, async for proxy.message:\n\d+ messages: .*\d+ from sine",
            r"jeepney, AddMatch with arg0='load':\n[1-9]\d* messages: [1-9]\d* from load\n",
        ],
        "stopped": [r"still running: \[\]"],
        "check": unsolved(7),
    },
    "08_live_plot": {
        "plot": [r"^load: [1-9]\d* messages$", r"^sine: [1-9]\d* messages$", r"^simulated:0: \d+ "],
        "client": [r"client \| one chart each for: load, sine, simulated:0", r"client \| wrote "],
        "stopped": [r"still running: \[\]"],
        "check": unsolved(8),
    },
    "09_kernel_facts": {
        "facts": [  # the kernel names the real sender: this kernel, or sender.py's process
            r"'from this kernel': received at \d+ ns, from pid (\d+), uid \d+\n(.*\n)*"
            r"this kernel is pid \1$",
            r"'from sender.py': received at \d+ ns, from pid (\d+), uid \d+\n(.*\n)*"
            r"this kernel is pid (?!\1$)\d+$",
        ],
        "message-from": [
            r"^load: [\d.]+  \(pid (\d+), uid \d+, gid \d+\)$(.*\n)*the feeder is pid \1$",
            r"^simulated:0: (rising|falling)  \(pid 0, uid 0, gid 0\)$",
        ],
        "memfd": [r"fd \d+ is /memfd:incoming \(deleted\)", r"\d+ bytes, sealed; the last"],
        "snapshot": [r"exit status 0", r"seals: write, shrink, grow, seal", r", the same bytes"],
        "sniff": [r"'Message': [1-9]\d*", r"'MessageFrom': [1-9]\d*"],
        "client": [
            r"client \| load: [\d.]+  \(from pid \d+, uid \d+, gid \d+; [\d.]+ ms after the",
            r"client \| wrote ",
        ],
        "stopped": [r"still running: \[\]"],
        "check": unsolved(9),
    },
    "10_fast_path": {
        "burst": [r"load: 200 lines, the last: reading 199"],
        "strace": [
            r"summary: step 09: .*one datagram per wakeup",
            r"summary: step 10: .*drains up to \d+ datagrams per socket per wakeup",
            r"^one recvmsg per socket per wakeup$",
            r"^several recvmsg per socket per wakeup: it drains the socket$",
        ],
        "stopped": [r"still running: \[\]"],
        "check": unsolved(10),
    },
    "11_system_service": {
        "unit": [
            r"systemd-analyze verify: exit status 0",
            r"Overall exposure level for incoming\.service: [0-1]\.\d SAFE",
        ],
        "remote": [  # as root, the plot over ssh; else the one line that says why not
            r"(plotting it with\n.*client\.py --host incoming-viewer@127\.0\.0\.1:\d+"
            r"(.*\n)*wrote )|system_bus: needs root",
        ],
    },
    "12_watchdog": {
        "notify": [
            r"^READY=1 \| STATUS=serving ",
            r"^WATCHDOG=1 \| STATUS=1 sources, [\d.]+ messages/s",
        ],
        "stopped": [r"^while stopped: no WATCHDOG=1", r"^running again: WATCHDOG=1"],
    },
    "13_watch_systemd": {
        "session": [
            r"not watching incoming\.service: no systemd on this bus",
            r"wrote .*plot\.png",
        ],
        "board": [r"no board running here|/org/freedesktop/systemd1/unit/incoming_2eservice"],
    },
}
# The cells that must show a picture (headless: PNG), per notebook.
PICTURES = {
    "08_live_plot": ["plot", "client"],
    "09_kernel_facts": ["client"],
    "10_fast_path": ["figures"],
}


def text_of(cell: Any) -> str:
    """Everything a cell showed, as text: streams, plain-text reprs, errors."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] in ("display_data", "execute_result"):
            data = output["data"]
            parts.append(data.get("text/markdown") or data.get("text/plain", ""))
        elif output["output_type"] == "error":
            parts.append(f"{output['ename']}: {output['evalue']}")
    return "\n".join(parts)


def pictures(cell: Any) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(output["data"]["image/png"])))
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


def check_expected(name: str, cells: list[Any], skip: set[str] | None = None) -> None:
    """What EXPECTED says the tagged cells of notebook name print, they printed."""
    for tag, patterns in EXPECTED[name].items():
        if tag in (skip or set()):
            continue
        text = "\n".join(text_of(cell) for cell in cells if tag in cell.metadata.get("tags", []))
        assert text, f"{name}: no output from a cell tagged {tag!r}"
        for expected in patterns:
            pattern, count = expected if isinstance(expected, tuple) else (expected, 1)
            found = len(re.findall(pattern, text, re.MULTILINE))
            assert found >= count, f"{name}, cell {tag!r}: {found}× {pattern!r} in\n{text}"


def tagged(notebook: Any, tag: str) -> list[Any]:
    return [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]


def marked_processes(marker: str) -> list[str]:
    """The processes (pid and command line) whose environment carries marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"{entry.name}: {argv}")
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


@pytest.fixture
def kernel_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The kernel's environment: a marker, its own temp folder and exercise folder."""
    marker = f"INCOMING_NOTEBOOK_RUN={uuid.uuid4().hex}"
    temp = Path(tempfile.mkdtemp(prefix="nb-"))  # short: socket paths must fit in 108 bytes
    env = {
        **os.environ,
        marker.split("=")[0]: marker.split("=")[1],
        "TMPDIR": str(temp),
        "INCOMING_MY_STEPS": str(tmp_path / "my_steps"),
        "INCOMING_TEST_TIMEOUT": "10",  # the unsolved exercises' graders wait this long
    }
    env.pop("XDG_RUNTIME_DIR", None)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # nothing may reach a real session bus
    yield env
    leftovers = marked_processes(marker)
    assert not leftovers, f"processes left running after the kernel ended: {leftovers}"
    left = [p.name for p in temp.glob("incoming-*")]  # talk.RUNTIME, the private bus's folder
    shutil.rmtree(temp)
    assert not left, f"folders left in the kernel's temp folder: {left}"


def test_the_kernel_is_the_venv() -> None:
    spec = KernelSpecManager().get_kernel_spec(KERNEL)  # make setup registered it
    assert Path(spec.argv[0]).resolve().parent == Path(sys.executable).resolve().parent, spec.argv


def test_every_step_has_a_chapter() -> None:
    covered = {
        int(n)
        for notebook in PAIRED
        for n in re.findall(r"talk\.intro\((\d+)\)", notebook.with_suffix(".py").read_text())
    }
    steps = {step.n for step in table.load()}
    assert steps <= covered, f"steps without a notebook chapter: {sorted(steps - covered)}"
    names = [notebook.stem for notebook in PAIRED]
    assert names == sorted(names), "notebooks are numbered in step order"


@pytest.mark.parametrize("notebook", PAIRED, ids=[p.stem for p in PAIRED])
def test_committed_without_outputs(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    dirty = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{notebook.name}: cells {dirty} have outputs (clear them before committing)"
    assert nb.metadata.kernelspec.name == KERNEL


@pytest.mark.parametrize("notebook", PAIRED, ids=[p.stem for p in PAIRED])
def test_paired_py_is_in_sync(notebook: Path) -> None:
    pair = notebook.with_suffix(".py")
    assert pair.exists(), f"{notebook.name} has no paired {pair.name}: make notebooks-sync"
    text = jupytext.writes(jupytext.read(notebook), fmt="py:percent")
    assert text == pair.read_text(), f"{notebook.name} and {pair.name} differ: make notebooks-sync"


def test_every_py_has_its_notebook() -> None:
    orphans = [
        p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.py") if not p.with_suffix(".ipynb").exists()
    ]
    assert not orphans, f"paired .py files without a notebook: {orphans}"


def execute(nb: Any, env: dict[str, str]) -> float:
    """Run the notebook's cells in a new kernel, in notebooks/; return the seconds it took."""
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.monotonic()
    client.execute(env=env)  # raises CellExecutionError with the cell's traceback
    return time.monotonic() - start


def cell_seconds(cell: Any) -> float:
    """How long a cell ran, from the timing nbclient records in its metadata."""
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def record_time(name: str, seconds: float, check_seconds: float) -> None:
    """build/notebook-times.json: each notebook's time, its exercise check's, and the totals."""
    TIMES.parent.mkdir(exist_ok=True)
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    times[name] = {"seconds": round(seconds, 1), "check cell": round(check_seconds, 1)}
    notebooks = [v for k, v in times.items() if k != "total"]
    times["total"] = {
        key: round(sum(v[key] for v in notebooks), 1) for key in ("seconds", "check cell")
    }
    TIMES.write_text(json.dumps(times, indent=2) + "\n")


@pytest.mark.slow
@pytest.mark.parametrize("notebook", PAIRED, ids=[p.stem for p in PAIRED])
def test_notebook_runs_top_to_bottom(notebook: Path, kernel_env: dict[str, str]) -> None:
    nb = nbformat.read(notebook, as_version=4)
    seconds = execute(nb, kernel_env)
    record_time(notebook.stem, seconds, sum(cell_seconds(cell) for cell in tagged(nb, "check")))
    # The code cells that show a step's code show exactly the file's text.
    for cell in nb.cells:
        match = re.fullmatch(r'talk\.show\((\d+), "([\w.]+)"\)', cell.source.strip())
        if match:
            path = table.get(int(match[1])).folder(table.ROOT / "steps") / match[2]
            assert text_of(cell) == path.read_text().rstrip("\n"), f"{cell.source}: not the file"
        elif cell.source.startswith("talk.show("):  # some of the file: each line is in it
            match = re.match(r'talk\.show\((\d+), "([\w.]+)"', cell.source)
            assert match, cell.source
            path = table.get(int(match[1])).folder(table.ROOT / "steps") / match[2]
            lines = path.read_text().splitlines()
            shown = text_of(cell).splitlines()
            assert shown and all(line in lines for line in shown), f"{cell.source}: not the file's"
    assert notebook.stem in EXPECTED, f"say what {notebook.name}'s cells must show in EXPECTED"
    check_expected(notebook.stem, nb.cells)
    for tag in PICTURES.get(notebook.stem, []):
        [cell] = tagged(nb, tag)
        [picture] = pictures(cell)
        assert picture.width >= 400 and picture.height >= 300, picture.size
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 16, f"{tag}: a blank picture?"


class Kernel:
    """A kernel of the venv, as JupyterLab starts it, to send cells to one at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        self.manager = KernelManager(kernel_name=KERNEL)
        self.manager.start_kernel(env=env, cwd=str(NOTEBOOKS))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, status: str = "ok") -> str:
        """Execute a cell; return what it printed (and its error, if any)."""
        printed: list[str] = []

        def output(message: dict[str, Any]) -> None:
            content = message["content"]
            if message["msg_type"] == "stream":
                printed.append(content["text"])
            elif message["msg_type"] in ("display_data", "execute_result"):
                data = content["data"]
                printed.append(data.get("text/markdown") or data.get("text/plain", ""))
            elif message["msg_type"] == "error":
                printed.append(f"{content['ename']}: {content['evalue']}")

        reply = self.client.execute_interactive(code, output_hook=output, timeout=CELL_TIMEOUT)
        text = "".join(printed)
        assert reply["content"]["status"] == status, f"{code}\n--- printed ---\n{text}"
        return text

    def wait_for_output(self, msg_id: str, text: str) -> None:
        """Until that cell printed text: it runs (busy alone is too early for an interrupt)."""
        while True:
            message = self.client.get_iopub_msg(timeout=CELL_TIMEOUT)
            if (
                message["parent_header"].get("msg_id") == msg_id
                and message["msg_type"] == "stream"
                and text in message["content"]["text"]
            ):
                return

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel()


def alive(pid: int) -> bool:
    """Running (not a zombie waiting to be reaped by the kernel)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_interrupt_stops_the_programs_and_cells_run_again(kernel_env: dict[str, str]) -> None:
    kernel = Kernel(kernel_env)
    try:
        started = "import talk\nreceiver = talk.start('receiver', 1)\nprint(receiver.pid)"
        first = int(kernel.run(started).splitlines()[-1])
        daemon = int(kernel.run("print(talk.bus().process.pid)").splitlines()[-1])
        socket = kernel.run("print(talk.path('incoming'))").strip()
        again = int(kernel.run(started).splitlines()[-1])  # re-run: the old one makes room
        assert again != first and not alive(first) and Path(socket).exists()

        long_cell = kernel.client.execute("import time\nprint('sleeping')\ntime.sleep(600)")
        kernel.wait_for_output(long_cell, "sleeping")
        kernel.manager.interrupt_kernel()  # the ■ button
        reply = kernel.client.get_shell_msg(timeout=60)
        assert reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]
        wait_until(lambda: not alive(again) and not alive(daemon), "the programs to stop")
        wait_until(lambda: not Path(socket).exists(), "the receiver to remove its socket")

        # After the interrupt, the same cells work again: a new receiver, a new bus.
        assert int(kernel.run(started).splitlines()[-1]) not in (first, again)
        kernel.run(
            "talk.send('incoming', 'after the interrupt')\n"
            "receiver.wait_for('incoming: after the interrupt')"
        )
        assert int(kernel.run("print(talk.bus().process.pid)").splitlines()[-1]) != daemon
    finally:
        kernel.stop()


def test_talk_stops_what_it_started_when_python_exits(kernel_env: dict[str, str]) -> None:
    """Without Jupyter's help (no interrupt, no process-group signals): talk's own finalizers."""
    code = "import talk\ntalk.start('receiver', 2, 'load', 'sine')\ntalk.bus()\n"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=NOTEBOOKS, env=kernel_env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "listening on" in result.stdout and "private bus:" in result.stdout, result.stdout


@pytest.mark.slow
def test_make_notebooks_serves_jupyterlab_on_localhost_with_the_kernel(
    tmp_path: Path, kernel_env: dict[str, str]
) -> None:
    env = {
        **kernel_env,  # its kernels inherit the marker: none may outlive JupyterLab
        "JUPYTER_TOKEN": uuid.uuid4().hex,
        "BROWSER": "true",  # "open" the browser with /bin/true
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "NB_PORT": str(free_port()),
    }
    make = subprocess.Popen(
        ["make", "--no-print-directory", "notebooks"],
        cwd=table.ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so the test can stop make and JupyterLab together
    )
    try:
        assert make.stdout is not None
        url = None
        for line in make.stdout:  # JupyterLab logs its address (then starts listening)
            if match := re.search(r"(http://[\w.]+:(\d+))/lab\?token=", line):
                url, port = match[1], int(match[2])
                break
        assert url is not None, f"make notebooks ended (status {make.wait()}) without serving"
        assert url.startswith("http://127.0.0.1:"), url
        wait_until(lambda: accepts("127.0.0.1", port), "JupyterLab to accept connections")
        assert not reachable_elsewhere(port), "JupyterLab listens beyond localhost"
        with urllib.request.urlopen(f"{url}/api/kernelspecs?token={env['JUPYTER_TOKEN']}") as r:
            specs = json.load(r)
        assert specs["default"] == KERNEL and KERNEL in specs["kernelspecs"], specs
        with urllib.request.urlopen(f"{url}/api/contents?token={env['JUPYTER_TOKEN']}") as r:
            served = {item["name"] for item in json.load(r)["content"]}
        assert {p.name for p in PAIRED} <= served, f"not the notebooks folder: {served}"
        # A notebook opened in JupyterLab gets the venv's kernel, which knows it may draw live.
        notebook = {"path": "08_live_plot.ipynb", "name": "08_live_plot.ipynb", "type": "notebook"}
        request = urllib.request.Request(
            f"{url}/api/sessions?token={env['JUPYTER_TOKEN']}",
            data=json.dumps({**notebook, "kernel": {"name": KERNEL}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as r:
            kernel = json.load(r)["kernel"]
        assert kernel["name"] == KERNEL, kernel
        code = "import talk\nprint('plots:', talk.plot_mode())"
        printed = asyncio.run(execute_in(url, env["JUPYTER_TOKEN"], kernel["id"], code))
        assert printed == "plots: widget\n", printed
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)


async def execute_in(url: str, token: str, kernel_id: str, code: str) -> str:
    """Run code in a kernel of the Jupyter server, as JupyterLab does (over its websocket)."""
    ws_url = f"ws{url[4:]}/api/kernels/{kernel_id}/channels?token={token}"
    connection = await websocket_connect(ws_url)
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "session": msg_id}
    content = {"code": code, "silent": False, "user_expressions": {}, "allow_stdin": False}
    request = {"header": {**header, "username": "test", "version": "5.3"}, "parent_header": {}}
    await connection.write_message(
        json.dumps({**request, "metadata": {}, "content": content, "channel": "shell"})
    )
    printed: list[str] = []
    while True:
        raw = await asyncio.wait_for(connection.read_message(), CELL_TIMEOUT)
        assert raw is not None, f"the websocket closed; so far: {printed}"
        message = json.loads(raw)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append(f"{message['content']['ename']}: {message['content']['evalue']}")
        elif message["msg_type"] == "execute_reply":
            connection.close()
            return "".join(printed)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def reachable_elsewhere(port: int) -> list[str]:
    """This machine's non-loopback IPv4 addresses where something accepts on port."""
    reachable = []
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:  # SIOCGIFADDR: the interface's IPv4 address
                request = struct.pack("256s", name.encode()[:15])
                address = socket.inet_ntoa(fcntl.ioctl(probe.fileno(), 0x8915, request)[20:24])
            except OSError:  # no IPv4 address on it
                continue
        if address.startswith("127."):
            continue
        if accepts(address, port):
            reachable.append(address)
    return reachable


def accepts(address: str, port: int) -> bool:
    with socket.socket() as client:
        client.settimeout(5)
        return client.connect_ex((address, port)) == 0


@pytest.mark.slow
def test_the_plot_is_a_live_widget_in_jupyterlab(kernel_env: dict[str, str]) -> None:
    """As JupyterLab runs it (ipympl): the charts cell shows a widget, and no picture."""
    notebook = NOTEBOOKS / "08_live_plot.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    last = next(i for i, c in enumerate(nb.cells) if "stopped" in c.metadata.get("tags", []))
    nb.cells = nb.cells[: last + 1]  # not the exercise: that is the other test's
    nb.cells.append(nbformat.v4.new_code_cell("talk.stop()"))  # the Stop button, pressed
    execute(nb, {**kernel_env, "INCOMING_PLOT": "widget"})
    [charts] = tagged(nb, "charts")
    widgets = [
        output
        for output in charts.outputs
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    assert widgets, f"no widget in the charts cell: {charts.outputs}"
    [plot] = tagged(nb, "plot")
    assert not pictures(plot) and "the plot above is live" in text_of(plot), text_of(plot)
    [stopped] = tagged(nb, "stopped")  # live, the stop is a button (Run All must not stop)
    assert "Stop the plot" in json.dumps(stopped.outputs) and "still running" not in text_of(
        stopped
    ), stopped.outputs
    assert re.search(r"^load: [1-9]\d* messages$", text_of(plot), re.MULTILINE), text_of(plot)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["03_asyncio", "09_kernel_facts"])
def test_a_notebook_runs_twice_in_one_kernel(name: str, kernel_env: dict[str, str]) -> None:
    """Run all, then run all again: sockets, bus, tasks and imports all come back."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cells = [cell for cell in nb.cells if "exercise" not in cell.source]  # graded elsewhere
    nb.cells = [*cells, *(nbformat.from_dict(dict(cell)) for cell in cells)]
    execute(nb, kernel_env)  # a cell that fails the second time raises here
    check_expected(name, nb.cells[len(cells) :], skip={"check"})


def test_a_solved_exercise_passes_its_check(kernel_env: dict[str, str]) -> None:
    """The check cell's other verdict: the exercise's copy, solved with the real step."""
    kernel = Kernel(kernel_env)
    try:
        kernel.run("import shutil, talk\nexercise = talk.exercise(2)")
        kernel.run("shutil.copytree(talk.folder(2), exercise.folder, dirs_exist_ok=True)")
        verdict = kernel.run("exercise.check()")
    finally:
        kernel.stop()
    assert "Your step 02 passes" in verdict, verdict
    assert "step 2 passes: " in verdict  # tools/grade.py's own verdict


def cells_of(name: str) -> dict[str, str]:
    """A notebook's tagged code cells: tag -> source."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return {tag: cell.source for cell in nb.cells for tag in cell.metadata.get("tags", [])}


@pytest.mark.slow
def test_the_plot_survives_stop_and_rerun(kernel_env: dict[str, str]) -> None:
    """Stop, then re-run the server and plot cells, twice, in one kernel: data arrives each time.

    Each round closes the kernel's bus connection and opens a new one, which gets the old
    one's file descriptor number back: the event loop must watch the new connection.
    """
    cells = cells_of("08_live_plot")
    kernel = Kernel({**kernel_env, "INCOMING_PLOT": "static"})
    try:
        kernel.run("import asyncio\nimport talk\nmode = talk.plotting()")
        for round in range(3):
            for tag in ("server", "charts"):
                kernel.run(cells[tag])
            printed = kernel.run(cells["plot"].replace("seconds=5", "seconds=2"))
            arrived = re.search(r"^load: [1-9]\d* messages$", printed, re.MULTILINE)
            assert arrived, f"round {round + 1}: {printed}"
            assert "still running: []" in kernel.run(cells["stopped"])
    finally:
        kernel.stop()


@pytest.mark.parametrize("notebook", PAIRED, ids=[p.stem for p in PAIRED])
def test_heading_number_is_the_file_number(notebook: Path) -> None:
    """One numbering: a notebook's heading starts with its file's number (its first step)."""
    heading = jupytext.read(notebook).cells[0].source.splitlines()[0]
    number = int(notebook.stem[:2])
    assert re.match(rf"# {number}\. ", heading), f"{notebook.name} is headed {heading!r}"


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of pid's child processes; state Z is a <defunct> one."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            stat = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            found.append((int(child), stat[0]))
    return found


def test_interrupt_says_in_one_line_what_stopped(kernel_env: dict[str, str]) -> None:
    """■ during an await: one line, no CancelledError traceback; during a check: no zombie."""
    kernel = Kernel(kernel_env)
    try:
        kernel.run("import asyncio, talk\ntalk.start('receiver', 1)")
        printed: list[str] = []
        long_cell = kernel.client.execute("print('waiting')\nawait asyncio.sleep(8)")
        kernel.wait_for_output(long_cell, "waiting")
        kernel.manager.interrupt_kernel()  # the ■ button
        reply = kernel.client.get_shell_msg(timeout=60)
        assert reply["parent_header"]["msg_id"] == long_cell, reply
        while True:
            message = kernel.client.get_iopub_msg(timeout=10)
            if message["parent_header"].get("msg_id") != long_cell:
                continue
            if message["msg_type"] == "stream":
                printed.append(message["content"]["text"])
            elif message["msg_type"] == "error":
                printed.append("\n".join(message["content"]["traceback"]))
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
        text = "\n".join(printed)
        assert text == "■ interrupted: stopped this cell and receiver\n", text

        kernel_pid = int(kernel.run("import os\nprint(os.getpid())").strip())
        kernel.run("exercise = talk.exercise(4)")
        check = kernel.client.execute("exercise.check()")
        wait_until(lambda: len(children_of(kernel_pid)) > 0, "the grader to start")
        kernel.manager.interrupt_kernel()
        reply = kernel.client.get_shell_msg(timeout=60)
        assert reply["parent_header"]["msg_id"] == check, reply
        zombies = [pid for pid, state in children_of(kernel_pid) if state == "Z"]
        assert not zombies, f"<defunct> processes under the kernel: {zombies}"
    finally:
        kernel.stop()


def test_an_unsolved_check_fails_fast_and_says_what_is_missing(kernel_env: dict[str, str]) -> None:
    """Step 04 from step 03's copy: one socket only. The check says so in words."""
    env = {k: v for k, v in kernel_env.items() if k != "INCOMING_TEST_TIMEOUT"}
    kernel = Kernel(env)  # the check's own timeout, as in JupyterLab
    try:
        kernel.run("import talk\nexercise = talk.exercise(4)")
        verdict = kernel.run("exercise.check()")
    finally:
        kernel.stop()
    assert "does not pass yet" in verdict, verdict
    assert re.search(r"why: the receiver listened on 1 of the \d sockets", verdict), verdict
    assert "Hint:" in verdict, verdict
