"""What the notebooks' tests share: the notebooks, a kernel of the venv, the kernel's
environment (a marker no process may keep after the kernel ends), reading cell outputs.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import io
import json
import os
import shutil
import socket
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from PIL import Image
from tornado.websocket import websocket_connect

from tools import table

NOTEBOOKS = table.ROOT / "notebooks"
PAIRED = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
KERNEL = "incoming"
CELL_TIMEOUT = 180  # seconds per cell: the exercise checks run a grader


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


def kernel_environment(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The kernel's environment: a marker, its own temp folder and exercise folder; after
    the test, no process may carry the marker (tests/conftest.py's fixture kernel_env)."""
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


class Kernel:
    """A kernel of the venv, as JupyterLab starts it, to send cells to one at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        self.manager = KernelManager(kernel_name=KERNEL)
        self.manager.start_kernel(env=env, cwd=str(NOTEBOOKS))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, status: str = "ok") -> str:
        """Execute a cell; return what it printed (and its error, if any); a display the
        cell updated (update_display_data) shows as it ended, as JupyterLab shows it."""
        printed: list[list[str]] = []  # [display id, text]

        def output(message: dict[str, Any]) -> None:
            content = message["content"]
            kind = message["msg_type"]
            if kind == "stream":
                printed.append(["", content["text"]])
            elif kind in ("display_data", "execute_result", "update_display_data"):
                data = content["data"]
                text = (data.get("text/markdown") or data.get("text/plain", "")).rstrip("\n")
                shown = content.get("transient", {}).get("display_id", "")
                if kind == "update_display_data":
                    for entry in printed:
                        if entry[0] == shown:
                            entry[1] = text + "\n"
                else:
                    printed.append([shown, text + "\n"])
            elif kind == "error":
                printed.append(["", f"{content['ename']}: {content['evalue']}"])

        reply = self.client.execute_interactive(code, output_hook=output, timeout=CELL_TIMEOUT)
        text = "".join(entry[1] for entry in printed)
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


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of pid's child processes; state Z is a <defunct> one."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:  # the thread just ended
            continue
        for child in children:
            try:
                stat = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # reaped since: not a child any more
                continue
            found.append((int(child), stat[0]))
    return found


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
