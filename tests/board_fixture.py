"""The board (tools/board/): a real systemd as PID 1 in systemd-nspawn, for the tests.

Registered in tests/conftest.py, so any test may ask for:

    board    the board with the latest step's service ($BOARD_STEP chooses another),
             booted once per session and powered off at its end
    boards   boards.get(12): a board with step 12's service (one per step, booted once)

A Board (tools/board/machine.py) gives what a test needs:
    board.run("systemctl is-active incoming")       a command over ssh, as root (user="viewer")
    board.host()                                     the client's --host viewer@127.0.0.1:PORT
    board.client_env()                               os.environ with an ssh that knows the board
    board.bus_address                                its system bus, from the host (as root)
    board.feed("load", "sine")                       a feeder into the service's sockets there

Where the board cannot boot (not root, not Debian, no systemd-nspawn) the tests that
use it are skipped with the reason. The board's tree is built once (make board-setup,
which make test runs first); a test run without it builds it here (a few minutes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.board.build import BoardError, unavailable
from tools.board.machine import Board, boot, latest_step


class Boards:
    """Boards booted on demand, one per step; all powered off by stop()."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.booted: dict[int, Board] = {}

    def get(self, step: int | None = None) -> Board:
        step = step or int(os.environ.get("BOARD_STEP") or latest_step())
        if step in self.booted:
            return self.booted[step]
        if reason := unavailable():
            pytest.skip(f"no board: {reason}")
        try:
            board = boot(self.folder / f"step{step}", step, echo=False)
        except BoardError as error:
            pytest.skip(f"the board cannot boot here: {error}")
        self.booted[step] = board
        return board

    def stop(self) -> None:
        for board in self.booted.values():
            board.stop()


@pytest.fixture(scope="session")
def boards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Boards]:
    pool = Boards(tmp_path_factory.mktemp("boards"))
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="session")
def board(boards: Boards) -> Board:
    return boards.get()
