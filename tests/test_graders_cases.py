"""The graders grade the idea: each known mistake fails with its idea's why line, and each
valid alternative passes (tests/graders/cases/, see tools/grade_cases.py).

One test per step; its cases are graded two at a time, as `make check-N` grades them.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tools import grade_cases, ideas, table

STEPS = grade_cases.steps_with_cases()


def test_every_case_file_is_well_formed() -> None:
    cases = grade_cases.load()  # a bad header raises, naming the file
    assert cases, "no cases in tests/graders/cases/"
    for case in cases:
        if case.kind == "mistake":
            re.compile(case.why)


def problem(case: grade_cases.Case, verdict: grade_cases.Verdict) -> str:
    """What is wrong with a case's verdict ("" if nothing)."""
    tail = "\n    ".join(verdict.output.strip().splitlines()[-12:])
    if case.kind == "valid" and not verdict.passed:
        return f"{case.name} ({case.what}) is valid but fails: {verdict.why}\n    {tail}"
    if case.kind == "mistake" and verdict.passed:
        return f"{case.name} ({case.what}) is a mistake but passes"
    if case.kind == "mistake" and not re.search(case.why, verdict.why):
        return f"{case.name}: the why line does not match {case.why!r}:\n    {verdict.why!r}"
    return ""


@pytest.mark.parametrize("n", STEPS, ids=[f"step{n:02d}" for n in STEPS])
def test_mistakes_fail_with_their_why_and_alternatives_pass(n: int, tmp_path: Path) -> None:
    cases = grade_cases.load(n)
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = list(
            pool.map(lambda case: grade_cases.grade(case, tmp_path / case.path.stem), cases)
        )
    problems = [
        text
        for case, verdict in zip(cases, verdicts, strict=True)
        if (text := problem(case, verdict))
    ]
    for case, verdict in zip(cases, verdicts, strict=True):
        result = "pass" if verdict.passed else "fail"
        print(f"{case.name}: {result} {verdict.seconds:.1f} s {verdict.why}")
    assert not problems, "\n".join(problems)


def test_watch_grader_stops_at_the_first_failed_idea(tmp_path: Path) -> None:
    """make watch / live-N (tools/ideas.Grader): a failed idea ends every worker at once, its
    why line is the idea's message, and the tests it left are 'not run'."""
    case = next(case for case in grade_cases.load(3) if case.path.stem == "mistake_sleep_poll")
    steps_dir = grade_cases.scratch(case, tmp_path / "steps")
    verdicts: list[ideas.Verdict] = []

    async def grade() -> None:
        grader = ideas.Grader(verdicts.append, workers=2)
        await grader.start(table.get(3), table.get(3).folder(steps_dir))
        assert grader.task is not None
        await grader.task

    asyncio.run(grade())
    verdict = verdicts[-1]
    assert verdict.finished and verdict.failed and not verdict.passed
    failed = [idea for idea in verdict.ideas if idea.state == "failed"]
    assert failed and re.search(case.why, failed[0].message), verdict.ideas
    outcomes = [test.outcome for test in verdict.tests.values()]
    assert ideas.NOT_RUN in outcomes, outcomes
    assert verdict.basics.message.startswith("not run"), verdict.basics
