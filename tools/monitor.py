"""`make monitor [SOURCE=load]`: busctl monitor on the talk's bus, everything or one source.

    python3 -m tools.monitor            # every message to or from org.example.Incoming
    python3 -m tools.monitor load       # only the signals whose first argument is 'load'
    python3 -m tools.monitor --rule load   # print the match rule, run nothing

One source is a D-Bus match rule on the signal's first argument (arg0): the bus daemon
checks it and forwards only the matching signals, so the monitor never sees the rest.
`Message(s source, ...)` and step 09's `MessageFrom(s source, ...)` both start with the
source. The bus is the private one of `make bus` / `make step-N`; with BUS=session, the
one in $DBUS_SESSION_BUS_ADDRESS.
"""

from __future__ import annotations

import os
import shutil
import sys

from tools import bus as busmod

NAME = "org.example.Incoming"


def quote(value: str) -> str:
    """A match rule value: in apostrophes; an apostrophe itself is written \\' outside them."""
    return "'" + value.replace("'", "'\\''") + "'"


def match_rule(source: str, member: str | None = None) -> str:
    """The match rule for the signals of one source (arg0), Message and MessageFrom alike."""
    parts = ["type='signal'", f"interface={quote(NAME)}"]
    if member:
        parts.append(f"member={quote(member)}")
    parts.append(f"arg0={quote(source)}")
    return ",".join(parts)


def address() -> str:
    """The bus to watch, or SystemExit with one line saying how to get one."""
    if os.environ.get("BUS", "private") == "session":
        found = os.environ.get(busmod.ENV_VAR)
        if not found:
            raise SystemExit(f"monitor: BUS=session but ${busmod.ENV_VAR} is not set")
        return found
    running = busmod.running()
    if running is None:
        raise SystemExit("monitor: no private bus: run make bus (or make step-6) first")
    return running.address


def argv(source: str) -> list[str]:
    if not source:
        return ["busctl", "--user", "monitor", NAME]
    return ["busctl", "--user", "monitor", f"--match={match_rule(source)}"]


def main(args: list[str]) -> int:
    if args[:1] == ["--rule"]:
        print(match_rule(args[1] if len(args) > 1 else ""))
        return 0
    if args[:1] == ["--"]:  # make monitor: `-- "$SOURCE"`, empty when not given
        args = [a for a in args[1:] if a]
    elif args and args[0].startswith("-"):
        args = ["-"]  # an unknown option: the usage line below
    if len(args) > 1 or args[:1] == ["-"]:
        print(
            "usage: python3 -m tools.monitor [SOURCE]   (make monitor SOURCE=load)", file=sys.stderr
        )
        return 2
    source = args[0] if args else ""
    if shutil.which("busctl") is None:
        print("monitor: busctl not found (Debian: apt install systemd)", file=sys.stderr)
        return 1
    env = {**os.environ, busmod.ENV_VAR: address()}
    command = argv(source)
    what = f"only the signals of source {source!r} ({match_rule(source)})" if source else NAME
    print(f"monitor: {what}; Ctrl-C stops", file=sys.stderr, flush=True)
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
