"""Grade a step on every save and say which of its ideas already work.

Runs the step's grader (tests/graders/test_stepNN.py, as `make check-N` does) in a
pytest of its own and reads each test's result as it arrives. This module is also
the pytest plugin that reports them (`-p tools.ideas`): the step's idea tests
(`@pytest.mark.idea`) go first, and one JSON line per test goes to the file
descriptor in $INCOMING_RESULTS_FD. With several workers, each runs every Nth test.

Used by `make live-N` (tools/live.py) and `make watch` (tools/watch.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import bus, grade, table

FD_VAR = "INCOMING_RESULTS_FD"
SHARD_VAR = "INCOMING_SHARD"  # "i/n": this worker runs tests i, i+n, i+2n, ...
TEST_TIMEOUT = "6"  # seconds a grader waits for a line that never comes (its default is 20)


# --- the pytest side: runs inside the grader's pytest -------------------------------------


def _emit(message: dict[str, Any]) -> None:
    os.write(int(os.environ[FD_VAR]), (json.dumps(message) + "\n").encode())


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if FD_VAR not in os.environ:
        return
    items.sort(key=lambda item: item.get_closest_marker("idea") is None)  # stable: ideas first
    index, count = (int(part) for part in os.environ.get(SHARD_VAR, "0/1").split("/"))
    tests = [
        {
            "id": item.nodeid,
            "name": item.originalname,
            "idea": bool(item.get_closest_marker("idea")),
            "order": order,
        }
        for order, item in enumerate(items)
    ]
    mine = items[index::count]
    config.hook.pytest_deselected(items=[item for item in items if item not in mine])
    items[:] = mine
    _emit({"collected": tests[index::count]})


def pytest_runtest_logreport(report: Any) -> None:
    if FD_VAR not in os.environ:
        return
    if report.when == "call" or report.outcome != "passed":
        message = ""
        crash = getattr(report.longrepr, "reprcrash", None)
        if report.failed:  # pytest.fail(..., pytrace=False) leaves no crash, only the text
            message = short(crash.message if crash is not None else str(report.longrepr))
        _emit({"id": report.nodeid, "outcome": report.outcome, "message": message})


def short(message: str) -> str:
    """A failed assertion's first line, without the exception's name and the program's argv."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    first = re.sub(r"^(AssertionError|Failed): ", "", first)
    return re.sub(r"^/\S*python\S* \S+\.py .*?: (?=no line|ended|still running)", "", first)


# --- the watching side ---------------------------------------------------------------------


NOT_RUN = "not run"  # an outcome: an idea failed first, which ended the run


@dataclass
class Test:
    name: str  # the test function's name (a parametrized test's cases share it)
    idea: bool
    order: int  # ideas first, then the grader's order
    outcome: str | None = None  # None: not run yet; else passed, failed, skipped or NOT_RUN
    message: str = ""


@dataclass
class Idea:
    label: str
    state: str  # "passed", "failed" or "pending"
    message: str = ""


def label(name: str) -> str:
    """test_every_socket_has_its_own_thread -> every socket has its own thread"""
    return name.removeprefix("test_").replace("_", " ")


@dataclass
class Verdict:
    """What the grader said so far about one version of a step's files."""

    step: table.Step
    run: int = 0  # counts the grader runs, so a reader can tell this verdict from the last
    tests: dict[str, Test] = field(default_factory=dict)
    finished: bool = False
    error: str = ""  # one line: a syntax error, or why the grader could not run
    seconds: float = 0.0  # how long the grader took

    @property
    def ideas(self) -> list[Idea]:
        """The step's ideas, one per idea test (its parametrized cases together)."""
        grouped: dict[str, list[Test]] = {}
        for test in sorted(self.tests.values(), key=lambda test: test.order):
            if test.idea:
                grouped.setdefault(test.name, []).append(test)
        return [self._idea(label(name), tests) for name, tests in grouped.items()]

    @property
    def basics(self) -> Idea:
        """Every other test (bad input, signals, ...) as one line."""
        tests = [test for test in self.tests.values() if not test.idea]
        passed = sum(test.outcome in ("passed", "skipped") for test in tests)
        idea = self._idea(f"the basics {passed}/{len(tests)}", tests)
        return idea

    @staticmethod
    def _idea(text: str, tests: list[Test]) -> Idea:
        failed = [test for test in tests if test.outcome == "failed"]
        if failed:
            return Idea(text, "failed", failed[0].message)
        if all(test.outcome in ("passed", "skipped") for test in tests):
            return Idea(text, "passed")
        if any(test.outcome == NOT_RUN for test in tests):
            return Idea(text, "pending", "not run: an idea before it does not hold yet")
        return Idea(text, "pending")

    @property
    def passed(self) -> bool:
        """The step works: every test of its grader ran and passed."""
        return (
            self.finished
            and not self.error
            and bool(self.tests)
            and all(test.outcome in ("passed", "skipped") for test in self.tests.values())
        )

    @property
    def failed(self) -> bool:
        return bool(self.error) or any(test.outcome == "failed" for test in self.tests.values())


def syntax_error(folder: Path) -> str:
    """The first syntax error in the folder's Python files, as one line ("" if none)."""
    for path in sorted(folder.glob("*.py")):
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except SyntaxError as error:
            return f"{path.name}:{error.lineno}: {type(error).__name__}: {error.msg}"
        except ValueError as error:  # e.g. a null byte
            return f"{path.name}: {error}"
    return ""


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))


class Grader:
    """Grades a step in the background; starting a new run stops the one before it.

    on_update(verdict) is called on the event loop each time something is known.
    """

    def __init__(self, on_update: Callable[[Verdict], None], workers: int | None = None) -> None:
        self.on_update = on_update
        self.workers = workers or default_workers()
        self.runs = 0
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()  # one start or stop at a time: the last one wins

    async def start(self, step: table.Step, folder: Path) -> Verdict:
        """Grade the step in folder (named as the step's dir) from scratch."""
        async with self.lock:
            await self._stop()
            return self._start(step, folder)

    def _start(self, step: table.Step, folder: Path) -> Verdict:
        self.runs += 1
        verdict = Verdict(step, self.runs)
        verdict.error = syntax_error(folder) if folder.is_dir() else f"{folder}: no such folder"
        if verdict.error:
            verdict.finished = True
            self.on_update(verdict)
            return verdict
        self.on_update(verdict)
        self.task = asyncio.create_task(self._run(verdict, folder))
        return verdict

    async def stop(self) -> None:
        async with self.lock:
            await self._stop()

    async def _stop(self) -> None:
        """Stop a run in progress: its pytest and every program it started, at once."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def _run(self, verdict: Verdict, folder: Path) -> None:
        """Every worker to its end, or until a failed idea ends them all (the verdict is known:
        its why line is what the attendee needs, and the rest are not run)."""
        started = time.monotonic()
        idea_failed = asyncio.Event()
        workers = [
            asyncio.create_task(self._worker(verdict, folder, index, idea_failed))
            for index in range(self.workers)
        ]
        ended = asyncio.create_task(idea_failed.wait())
        try:
            await asyncio.wait([*workers, ended], return_when=asyncio.FIRST_COMPLETED)
            while not idea_failed.is_set() and not all(worker.done() for worker in workers):
                await asyncio.wait([*workers, ended], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            for worker in workers:
                worker.cancel()  # a finished one ignores it; a running one is killed
            results = await asyncio.gather(*workers, return_exceptions=True)
        outputs = [result for result in results if isinstance(result, str)]
        if idea_failed.is_set():
            for test in verdict.tests.values():
                if test.outcome is None:
                    test.outcome = NOT_RUN
        verdict.seconds = time.monotonic() - started
        verdict.finished = True
        if not verdict.tests:
            lines = [line for output in outputs for line in output.splitlines() if line.strip()]
            verdict.error = "the grader did not run: " + (lines[-1] if lines else "no output")
        self.on_update(verdict)

    async def _worker(
        self, verdict: Verdict, folder: Path, index: int, idea_failed: asyncio.Event
    ) -> str:
        """One pytest running every self.workers-th test; returns what it printed."""
        read, write = os.pipe()
        env = {
            **os.environ,
            FD_VAR: str(write),
            SHARD_VAR: f"{index}/{self.workers}",
            "INCOMING_TEST_TIMEOUT": os.environ.get("INCOMING_TEST_TIMEOUT", TEST_TIMEOUT),
            "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ in the folder being edited
        }
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p"]
        command += [
            "tools.ideas",
            str(grade.grader_for(verdict.step.n)),
            f"--steps={folder.parent}",
        ]
        loop = asyncio.get_running_loop()
        results = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(results), os.fdopen(read, "rb")
        )
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=table.ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=(write,),
                start_new_session=True,  # its own process group, for the kill below
                preexec_fn=bus.end_with_parent,
            )
        finally:
            os.close(write)
        assert process.stdout is not None
        output = asyncio.create_task(process.stdout.read())
        try:
            async for line in results:
                message = json.loads(line)
                self._record(verdict, message)
                self.on_update(verdict)
                test = verdict.tests.get(message.get("id", ""))
                if test is not None and test.idea and test.outcome == "failed":
                    idea_failed.set()
            await process.wait()
            return (await output).decode(errors="replace")
        finally:
            transport.close()
            output.cancel()
            if process.returncode is None:  # stopped: pytest and every program it started
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()

    @staticmethod
    def _record(verdict: Verdict, message: dict[str, Any]) -> None:
        for test in message.get("collected", []):
            verdict.tests[test["id"]] = Test(test["name"], test["idea"], test["order"])
        if "id" in message and message["id"] in verdict.tests:
            test = verdict.tests[message["id"]]
            if test.outcome != "failed":  # a failed teardown after a passed call still fails
                test.outcome = message["outcome"]
                test.message = message["message"]


def main(argv: list[str]) -> int:
    """python3 -m tools.ideas N [STEPS_DIR]: grade once, print the ideas (for trying it out)."""
    step = table.get(argv[0])
    folder = step.folder(argv[1] if len(argv) > 1 else None)

    def show(verdict: Verdict) -> None:
        if verdict.finished:
            for idea in [*verdict.ideas, verdict.basics]:
                print(f"{idea.state:8} {idea.label}  {idea.message}")
            print(verdict.error or ("works" if verdict.passed else "not yet"))
            print(f"{verdict.seconds:.2f} s")

    async def once() -> None:
        grader = Grader(show)
        await grader.start(step, folder)
        if grader.task is not None:
            await grader.task

    asyncio.run(once())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
