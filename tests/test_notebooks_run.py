"""Each notebook executed top to bottom, headless, on the venv's kernel "incoming" (as
`make notebooks` would run it); the test reads what its cells produced: the messages that
arrived, the code shown from the step files, the grader's verdict, the plot. Every process a
kernel starts carries a marker in its environment; none may be left afterwards.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.notebook_kernel import (
    NOTEBOOKS,
    PAIRED,
    Kernel,
    execute,
    pictures,
    tagged,
    text_of,
)
from tools import table

TIMES = table.ROOT / "build" / "notebook-times.json"


# What the tagged cells of each notebook must print: regexes searched in the cell's text,
# or (regex, n): at least n lines match.
Expectation = str | tuple[str, int]


def unsolved(n: int) -> list[Expectation]:
    """The check cell of an exercise nobody did yet: grader n fails, and says the hint."""
    return [
        r"^✗ \*\*Your step \d+ does not pass yet\.\*\*\nwhy: \S",  # the why first, in words
        rf"FAILED tests/graders/test_step{n:02d}\.py::",
        r"Hint:",
    ]


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
        "threads": [r"receiver \(pid \d+\): 1 thread\n"],
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
            r"summary: step 10: .*up to \d+ (datagrams )?per socket per wakeup",
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
    for cell in nb.cells:  # no stray results (a bare 0 under a stop()), no wall of text
        outputs = cell.get("outputs", [])
        stray = [
            o["data"]
            for o in outputs
            if o["output_type"] == "execute_result"
            and list(o["data"]) == ["text/plain"]
            and re.fullmatch(r"-?\d+|None|True|False", o["data"]["text/plain"])
        ]
        assert not stray, f"{cell.source!r} shows a stray value: {stray}"
        printed = "".join(o["text"] for o in outputs if o["output_type"] == "stream")
        printed_lines = len(printed.splitlines())
        assert printed_lines <= 100, f"{cell.source!r} prints {printed_lines} lines"
    for tag in PICTURES.get(notebook.stem, []):
        [cell] = tagged(nb, tag)
        [picture] = pictures(cell)
        assert picture.width >= 400 and picture.height >= 300, picture.size
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 16, f"{tag}: a blank picture?"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["03_asyncio", "09_kernel_facts"])
def test_a_notebook_runs_twice_in_one_kernel(name: str, kernel_env: dict[str, str]) -> None:
    """Run all, then run all again: sockets, bus, tasks and imports all come back."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cells = [cell for cell in nb.cells if "exercise" not in cell.source]  # graded elsewhere
    nb.cells = [*cells, *(nbformat.from_dict(dict(cell)) for cell in cells)]
    execute(nb, kernel_env)  # a cell that fails the second time raises here
    check_expected(name, nb.cells[len(cells) :], skip={"check"})


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
