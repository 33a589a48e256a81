"""python -m tools.board build|start|ssh|stop|status: the board (see __init__.py).

build [--if-possible]   build (or find) the root filesystem; --if-possible: say why not, exit 0
start [--step N]        boot it with step N's service (default: the latest step); print --host
ssh [COMMAND]           run COMMAND on the board as root (no COMMAND: a shell)
stop                    power it off
status                  one line: running, ready to boot, or why it cannot run here
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from tools.board.build import CACHE, VIEWER, BoardError, build, is_ready, unavailable
from tools.board.machine import NAME, Board, boot, describe

FOLDER = CACHE / "make"  # the board of make board (the tests boot their own)


def running() -> Board:
    board = Board.load(FOLDER)
    if board is None:
        raise BoardError("no board is running: make board")
    return board


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="board", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["build", "start", "ssh", "stop", "status"])
    parser.add_argument("command", nargs="?", default="", help="ssh: the command to run")
    parser.add_argument("--step", type=int, help="start: the step whose service to install")
    parser.add_argument("--if-possible", action="store_true", help="build: skip with the reason")
    args = parser.parse_args(argv)
    try:
        if args.action == "build":
            try:
                took = build()
            except BoardError as error:
                if args.if_possible:
                    print(f"board: not built, the board tests will be skipped: {error}")
                    return 0
                raise
            print(f"board: built in {took:.0f} s" if took else "board: built already")
        elif args.action == "start":
            board = Board.load(FOLDER)
            if board is None:
                board = boot(FOLDER, args.step)
                answer = board.call()  # the first call starts the service: bus activation
                print(f"board: {VIEWER}'s first call to {NAME} bus-activated it: {answer}")
                board.feed("load", "sine")
            elif args.step and args.step != board.step:
                raise BoardError(f"the board runs step {board.step}: make board-stop first")
            print(describe(board))
        elif args.action == "ssh":
            board = running()
            return subprocess.run(board.ssh(args.command), check=False).returncode
        elif args.action == "stop":
            board = Board.load(FOLDER)
            if board is None:
                print("board: not running")
            else:
                board.stop()
                print("board: stopped")
        else:
            board = Board.load(FOLDER)
            reason = unavailable()
            if board is not None:
                print(f"board: running step {board.step}, --host {board.host()}")
            else:
                print(f"board: {reason or ('ready to boot' if is_ready() else 'not built')}")
            return 1 if reason else 0
    except BoardError as error:
        print(f"board: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
