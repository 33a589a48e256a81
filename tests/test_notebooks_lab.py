"""`make notebooks`: JupyterLab's server on localhost with the venv's kernel, and the live plot
as JupyterLab runs it (an ipympl widget).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest

from tests.helpers import wait_until
from tests.notebook_kernel import (
    KERNEL,
    NOTEBOOKS,
    PAIRED,
    accepts,
    execute,
    execute_in,
    free_port,
    marked_processes,
    pictures,
    reachable_elsewhere,
    tagged,
    text_of,
)
from tools import table


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
        os.killpg(make.pid, signal.SIGTERM)  # Ctrl-C: JupyterLab shuts its kernels down, then ends
        make.wait(timeout=30)
        marker = env["INCOMING_NOTEBOOK_RUN"]  # make ends at once; JupyterLab when it is done
        wait_until(lambda: not marked_processes(marker), "JupyterLab and its kernels to end")


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
