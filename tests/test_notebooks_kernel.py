"""The notebooks' helpers (notebooks/talk.py) in one kernel, cell by cell: ■ and restarts
leave nothing behind, and an exercise's check gives the right verdict, in words.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import wait_until
from tests.notebook_kernel import NOTEBOOKS, Kernel, children_of
from tools.live import alive


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


def test_a_solved_exercise_passes_its_check(kernel_env: dict[str, str]) -> None:
    """The check cell's other verdict: the exercise's copy, solved with the real step."""
    kernel = Kernel(kernel_env)
    try:
        kernel.run("import talk\nexercise = talk.exercise(2)")
        kernel.run("exercise.solve()")  # only the files the exercise names
        verdict = kernel.run("exercise.check()")
    finally:
        kernel.stop()
    assert re.fullmatch(r"✓ \*\*Your step 02 passes\*\* \(\d+ tests\)\.\n", verdict), verdict


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
    assert verdict.splitlines()[1].startswith("why: "), "the why comes first"
    assert re.search(r"why: .*(listened on 1 of the \d sockets|\(1 came\))", verdict), verdict
    assert "Hint:" in verdict, verdict
