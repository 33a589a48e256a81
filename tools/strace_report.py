"""What `make strace-N` prints: strace -f's output parsed, analysed per thread, and
summed up (tools/strace_demo.py runs the receiver under strace and records it).

The excerpt starts at the receiver's first wait on its own sockets (the bus's connect
and authentication come before), fits 100 columns, and on a terminal shows the waits in
colour: epoll_wait (the loop) yellow, recvmsg cyan.
"""

from __future__ import annotations

import codecs
import re
import socket
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field

from tools import table

PATTERN_HEADER = "pattern (what tests/test_strace_demo.py compares with the reference):"
EXCERPT_LINES = 32  # a few from the start, the most from the end: the burst and the stop
RECV = ("recvmsg", "recvfrom", "recvmmsg")
LOOP = ("epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6")
SLEEP = ("nanosleep", "clock_nanosleep")
SAME_AS = {"epoll_pwait": "epoll_wait", "epoll_pwait2": "epoll_wait", "ppoll": "poll"}
SAME_AS |= {"pselect6": "select"}


@dataclass
class Recording:
    trace: str  # strace's output, as it wrote it
    pid: int  # the receiver's (its main thread's)
    names: dict[str, str]  # socket path -> its name in the steps table (or "bus")
    sockets: tuple[str, ...]  # the step's own sockets, the ones we sent datagrams to
    stop_signal: str
    burst: int = 0  # datagrams per socket sent at once while the receiver was stopped


# ---------------------------------------------------------------------------------------------
# Reading the trace

LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+) (.*)$")
UNFINISHED = " <unfinished ...>"


@dataclass
class Call:
    pid: int
    name: str
    args: str
    start: int  # index of the line where it began
    end: int | None = None  # index of the line where it returned (None: never did)
    result: str | None = None

    @property
    def error(self) -> str | None:
        words = (self.result or "").split()
        return words[1] if len(words) > 1 and re.fullmatch(r"E[A-Z_]+", words[1]) else None

    @property
    def value(self) -> int | None:
        words = (self.result or "").split()
        return int(words[0]) if words and re.fullmatch(r"-?\d+", words[0]) else None

    def arg(self, i: int) -> str:
        parts = split_args(self.args)
        return parts[i] if i < len(parts) else ""


@dataclass
class Line:
    pid: int
    time: float
    text: str
    call: Call | None = None
    signal: str | None = None


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments: commas in brackets or strings do not count."""
    parts, depth, quoted, current = [], 0, False, []
    chars = iter(text)
    for char in chars:
        current.append(char)
        if quoted:
            if char == "\\":
                current.append(next(chars, ""))
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current[:-1]).strip())
            current = []
    parts.append("".join(current).strip())
    return parts


def parse(trace: str) -> list[Line]:
    """strace -f -tt output, each call's begin and end joined up (they may be lines apart)."""
    lines: list[Line] = []
    pending: dict[int, Call] = {}
    for raw in trace.splitlines():
        match = LINE.match(raw)
        if not match:
            continue
        pid = int(match[1])
        seconds = int(match[2]) * 3600 + int(match[3]) * 60 + float(match[4])
        body = match[5]
        line = Line(pid, seconds, body)
        index = len(lines)
        lines.append(line)
        if body.startswith("---"):
            line.signal = body.split()[1]
        elif body.startswith("<..."):
            resumed = re.match(r"<\.\.\. (\w+) resumed>(.*)$", body)
            call = pending.get(pid)
            if resumed is None or call is None:
                continue
            line.call = call
            rest = resumed[2].replace(UNFINISHED, "")
            if ") = " in rest:
                args, result = rest.rsplit(") = ", 1)
                call.args = (call.args + " " + args).strip()
                call.end, call.result = index, result
                del pending[pid]
        elif entry := re.match(r"(\w+)\((.*)$", body):
            name, rest = entry[1], entry[2]
            if rest.endswith(UNFINISHED):
                call = Call(pid, name, rest[: -len(UNFINISHED)].strip(), index)
                pending[pid] = call
            elif ") = " in rest:
                args, result = rest.rsplit(") = ", 1)
                call = Call(pid, name, args, index, index, result)
            else:
                continue
            line.call = call
    return lines


# ---------------------------------------------------------------------------------------------
# What the trace says


@dataclass
class Thread:
    pid: int
    label: str  # "main thread", "thread 1", ...
    calls: list[Call] = field(default_factory=list)  # those that began before the stop
    waits_in: Call | None = None  # the call it sat in when the signal came
    received: Counter[str] = field(default_factory=Counter)  # socket name -> messages
    recv_calls: Counter[str] = field(default_factory=Counter)  # recv call name -> calls
    loop_calls: Counter[str] = field(default_factory=Counter)  # epoll_wait & co. -> calls
    loop_blocking: int = 0  # of those, the ones allowed to wait (timeout not 0)
    loop_ready: int = 0  # of those, the ones that reported a socket readable
    futex_waits: int = 0
    recv_after_ready: bool | None = None  # None: it never used an event loop call
    most_per_wakeup: int = 0  # datagrams from one of our sockets between two loop calls


@dataclass
class Analysis:
    threads: list[Thread]
    fd_names: dict[int, str]
    sockets: tuple[str, ...]  # the step's own
    stop: int  # index of the stop signal's line
    lines: list[Line]

    @property
    def main(self) -> Thread:
        return self.threads[0]


TIMEOUT_ARG = {"epoll_wait": 3, "epoll_pwait": 3, "epoll_pwait2": 3, "select": 4, "pselect6": 4}


def readable(call: Call) -> set[int]:
    """The file descriptors an event loop call reported ready."""
    if call.name.startswith("epoll"):  # the events array it filled: data={u32=fd, ...}
        return {int(fd) for fd in re.findall(r"u32=(\d+)", call.arg(1))}
    if "poll" in call.name:  # = 1 ([{fd=5, revents=POLLIN}])
        return {int(fd) for fd in re.findall(r"fd=(\d+), revents=", call.result or "")}
    found = re.search(r"in \[([\d ]+)\]", call.result or "")  # select: = 1 (in [5])
    return {int(fd) for fd in found[1].split()} if found else set()


def waits_for_something(call: Call) -> bool:
    if call.name == "futex":
        return re.search(r"FUTEX_(WAIT|LOCK_PI)", call.arg(1)) is not None
    return call.name in (*RECV, *LOOP, *SLEEP)


def fd_of(arg: str) -> int | None:
    match = re.match(r"(\d+)", arg)
    return int(match[1]) if match else None


def fd_names_in(calls: list[Call], names: dict[str, str]) -> dict[int, str]:
    """Which file descriptor is which socket: strace -yy prints 3<UNIX:[inode,"path"]>,
    and a client's connect() the path it connects to (the bus)."""
    found = {}
    for call in calls:
        pairs = re.findall(r'(\d+)<UNIX[-\w]*:\[[^\]"]*"((?:[^"\\]|\\.)*)"\]>', call.args)
        if call.name == "connect" and (path := re.search(r'sun_path=@?"([^"]*)"', call.args)):
            pairs.append((call.arg(0), path[1]))
        if call.name == "bind" and "sa_family=AF_CAN" in call.args:
            pairs.append((call.arg(0), can_address(call.args)))
        for fd, path in pairs:
            if (number := fd_of(fd)) is not None and path.lstrip("@") in names:
                found[number] = names[path.lstrip("@")]
    return found


def can_address(args: str) -> str:
    """`can_ifindex=N` for an AF_CAN bind(): decoded by strace, or (older ones) from sa_data."""
    if found := re.search(r"can_ifindex=(\d+)", args):
        return found[0]
    if found := re.search(r'can_ifindex=if_nametoindex\("([^"]+)"\)', args):
        return f"can_ifindex={socket.if_nametoindex(found[1])}"
    if found := re.search(r'sa_data="((?:[^"\\]|\\.)*)"', args):  # C escapes: \21\346\2\0...
        data = codecs.escape_decode(found[1].encode())[0]  # type: ignore[attr-defined]
        return f"can_ifindex={int.from_bytes(data[2:6], sys.byteorder)}"  # after 2 padding bytes
    return ""


def wait_name(call: Call, fd_names: dict[int, str]) -> str:
    """'recvmsg on load', 'epoll_wait', 'futex': the call, and the socket it waits on."""
    name = SAME_AS.get(call.name, call.name)
    fd = fd_of(call.arg(0)) if call.name in RECV else None
    return f"{name} on {fd_names[fd]}" if fd in fd_names else name


def analyse(recording: Recording) -> Analysis:
    lines = parse(recording.trace)
    calls = list({id(line.call): line.call for line in lines if line.call}.values())
    fd_names = fd_names_in(calls, recording.names)
    # The receiver's threads: its main thread, and every thread a thread of it started.
    group = {recording.pid: "main thread"}
    for call in calls:
        started = call.name.startswith("clone") and "CLONE_THREAD" in call.args
        if started and call.pid in group and (call.value or 0) > 0:
            group[call.value or 0] = f"thread {len(group)}"
    stop = next(
        (i for i, ln in enumerate(lines) if ln.signal == recording.stop_signal and ln.pid in group),
        len(lines),
    )
    threads = {pid: Thread(pid, label) for pid, label in group.items()}
    for call in calls:
        if call.pid in threads and call.start < stop:
            threads[call.pid].calls.append(call)
    for thread in threads.values():
        ready: set[int] = set()  # reported readable, and no EAGAIN from it since
        since_wakeup: Counter[int] = Counter()  # datagrams per socket since the last loop call
        for call in thread.calls:
            if call.name in LOOP:
                since_wakeup.clear()
                thread.loop_calls[call.name] += 1
                timeout = call.arg(TIMEOUT_ARG.get(call.name, 2))
                thread.loop_blocking += timeout not in ("0", "{tv_sec=0, tv_nsec=0}")
                if (call.value or 0) > 0:
                    thread.loop_ready += 1
                    ready |= readable(call)
                if thread.recv_after_ready is None:
                    thread.recv_after_ready = True
            elif call.name in RECV:
                thread.recv_calls[call.name] += 1
                fd = fd_of(call.arg(0))
                if fd in fd_names and call.value is not None and call.value >= 0:
                    thread.received[fd_names[fd]] += 1
                    if fd_names[fd] in recording.sockets and thread.recv_after_ready is not None:
                        thread.recv_after_ready &= fd in ready
                        since_wakeup[fd] += 1
                        thread.most_per_wakeup = max(thread.most_per_wakeup, since_wakeup[fd])
                elif call.error == "EAGAIN" and fd is not None:
                    ready.discard(fd)  # drained: the next recvmsg needs a new report
            elif call.name == "futex" and re.search(r"FUTEX_(WAIT|LOCK_PI)", call.arg(1)):
                thread.futex_waits += 1
        # Where it was when the signal came: its last waiting call (normally it is still in it,
        # as we sent the signal once every thread slept in a system call).
        waits = [call for call in thread.calls if waits_for_something(call)]
        thread.waits_in = waits[-1] if waits else None
    ordered = [threads[recording.pid], *sorted(list(threads.values())[1:], key=lambda t: t.pid)]
    return Analysis(ordered, fd_names, recording.sockets, stop, lines)


# ---------------------------------------------------------------------------------------------
# What we print


def pattern(analysis: Analysis) -> list[str]:
    """What must not change from run to run: threads, where each waits, what each receives."""
    rows = []
    for thread in analysis.threads:
        waits = wait_name(thread.waits_in, analysis.fd_names) if thread.waits_in else "nothing"
        row = f"waits in {waits}"
        if ours := sorted(set(thread.received) & set(analysis.sockets)):
            row += "; received from " + ", ".join(ours)
        rows.append(row)
    lines = [f"threads: {len(analysis.threads)}", f"main thread: {rows[0]}"]
    lines += sorted(f"thread: {row}" for row in rows[1:])
    for thread in analysis.threads:
        if thread.recv_after_ready is not None and set(thread.received) & set(analysis.sockets):
            loop = SAME_AS.get(thread.loop_calls.most_common(1)[0][0], "epoll_wait")
            recv = SAME_AS.get(thread.recv_calls.most_common(1)[0][0], "recvmsg")
            if thread.recv_after_ready:
                lines.append(f"every {recv} came after {loop} reported its socket readable")
            else:
                lines.append(f"some {recv} came before {loop} reported its socket readable")
            lines.append(per_wakeup(thread, recv))
    return lines


def per_wakeup(thread: Thread, recv: str = "recvmsg") -> str:
    """One datagram per turn of the loop, or several (it drains the socket)."""
    if thread.most_per_wakeup > 1:
        return f"several {recv} per socket per wakeup: it drains the socket"
    return f"one {recv} per socket per wakeup"


def headline(step: table.Step, analysis: Analysis) -> str:
    """The talk's point in one line."""
    main = analysis.main
    others = analysis.threads[1:]
    count = len(analysis.threads)
    if others:
        main_waits = SAME_AS.get(main.waits_in.name, main.waits_in.name) if main.waits_in else "-"
        groups = Counter(
            SAME_AS.get(t.waits_in.name, t.waits_in.name) if t.waits_in else "no traced call"
            for t in others
        )
        parts = []
        for name, n in groups.items():
            waiting = [t.waits_in for t in others if t.waits_in]
            own = {fd_of(c.arg(0)) for c in waiting if SAME_AS.get(c.name, c.name) == name}
            if n > 1 and name in RECV and len(own) == n:
                parts.append(f"{n} threads each blocked in their own {name}")
            else:
                parts.append(f"{n} thread{'s' * (n > 1)} blocked in {name}")
        text = f"{count} threads: the main thread waits ({main_waits}), " + ", ".join(parts)
        if main.loop_calls and main.most_per_wakeup > 1:
            text += f"; it drains up to {main.most_per_wakeup} datagrams per socket per wakeup"
        elif main.loop_calls and main.most_per_wakeup == 1:
            text += "; one datagram per wakeup"
    elif main.loop_calls:
        loop, calls = main.loop_calls.most_common(1)[0]
        recv = main.recv_calls.most_common(1)[0][0] if main.recv_calls else "recvmsg"
        text = f"1 thread, {calls} {loop} calls, "
        if main.recv_after_ready:
            text += f"{recv} only after {loop} reported the socket readable"
        else:
            text += f"but {recv} without {loop} reporting the socket readable"
        if main.most_per_wakeup > 1:
            text += f", up to {main.most_per_wakeup} per socket per wakeup"
        elif main.most_per_wakeup == 1:
            text += ", one datagram per wakeup"
    elif main.waits_in:
        text = f"1 thread, blocked in {wait_name(main.waits_in, analysis.fd_names)}"
    else:
        text = f"{count} thread, not waiting in any traced call"
    return f"step {step.n:02d}: {text}"


def thread_line(thread: Thread, analysis: Analysis) -> str:
    waits = wait_name(thread.waits_in, analysis.fd_names) if thread.waits_in else "nothing traced"
    lines = [f"  pid {thread.pid}, {thread.label}: waits in {waits}"]
    for name, calls in thread.loop_calls.items():
        lines.append(
            f"      {name} ×{calls}: {thread.loop_blocking} could wait,"
            f" {thread.loop_ready} reported a socket readable"
        )
    for name, calls in thread.recv_calls.items():
        got = ", ".join(f"{n} from {sock}" for sock, n in sorted(thread.received.items()))
        lines.append(f"      {name} ×{calls}" + (f": {got}" if got else ""))
    if thread.most_per_wakeup:
        lines.append(f"      most datagrams from one socket per wakeup: {thread.most_per_wakeup}")
    if thread.futex_waits:
        lines.append(f"      futex waits ×{thread.futex_waits}")
    for name, calls in Counter(c.name for c in thread.calls if c.name in SLEEP).items():
        lines.append(f"      {name} ×{calls}")
    return "\n".join(lines)


WIDTH = 100  # columns: the projector's terminal beside nothing
PREFIX = 19  # "  pid ±s.sss  " before each call
WAITS = ("epoll_wait", "poll", "select", "pselect6", "ppoll", "epoll_pwait")
HIGHLIGHT = {"wait": "\x1b[1;33m", "recv": "\x1b[1;36m"}  # bold yellow / bold cyan


def highlight(text: str) -> str:
    """The waits in colour for a terminal: epoll_wait (the loop) yellow, recvmsg cyan."""
    text = re.sub(rf"\b({'|'.join(WAITS)})\(", HIGHLIGHT["wait"] + r"\1\x1b[0m(", text)
    return re.sub(r"\b(recvmsg|recvfrom|read)\(", HIGHLIGHT["recv"] + r"\1\x1b[0m(", text)


MSGHDR = re.compile(  # recvmsg's struct msghdr: just the data
    r"\{msg_name=[^{}]*msg_iov=\[\{iov_base="
    r'("(?:[^"\\]|\\.)*"(?:\.\.\.)?)'
    r", iov_len=\d+\}\][^{}]*\}"
)
DECORATED_FD = re.compile(r"(\d+)<(UNIX[-\w]*:\[[^\]]*\]|anon_inode:\[(\w+)\]|[^<>\s]*)>")


def compact(line: Line, analysis: Analysis) -> str:
    """One trace line, shortened: sockets by name, message headers to their data."""
    text = line.text
    call = line.call
    if call and call.name.startswith("clone") and line.signal is None:
        flags = "{flags=…|CLONE_THREAD|…}" if "CLONE_THREAD" in call.args else "…"
        return f"{call.name}({flags}) = {call.result}" if call.result else text

    def fd(match: re.Match[str]) -> str:
        number = int(match[1])
        if number in analysis.fd_names:
            return f"{number}<{analysis.fd_names[number]}>"
        if match[2].startswith(("UNIX", "anon")):
            return f"{number}<{match[3] or 'socket'}>"
        return match[0]

    text = DECORATED_FD.sub(fd, text)
    received = re.match(
        r"(recvmsg|recvfrom)\((\d+<[^>]*>), .*?iov_base=(\"(?:[^\"\\\\]|\\\\.)*\"(?:\.\.\.)?)", text
    )
    ended = re.search(r"\) = (\d+)$", text)
    if received and ended:  # the data, not the message header: fits the projector
        return f"{received[1]}({received[2]}, {received[3]}, …) = {ended[1]}"
    text = MSGHDR.sub(r"{iov_base=\1, …}", text)

    def event(match: re.Match[str]) -> str:
        number = int(match[2])
        name = analysis.fd_names.get(number)
        return "{" + match[1] + ", " + (f"{number}<{name}>" if name else f"fd {number}") + "}"

    text = re.sub(r"\{events=([\w|]+), data=\{u32=(\d+), u64=\d+\}\}", event, text)
    text = re.sub(r"futex\(0x[0-9a-f]+, ", "futex(0x…, ", text)
    text = re.sub(r'sun_path="[^"]*/([^/"]+/[^/"]+)"', r'sun_path="…/\1"', text)  # a temp folder
    text = re.sub(r" \(([A-Z][a-z][^()]*)\)$", "", text)  # "= -1 EINTR (Interrupted system call)"
    text = re.sub(r"\{msg_name=[^{}]*, msg_namelen=\d+[^{}]*\}", "{…}", text)  # an EAGAIN's header
    room = WIDTH - PREFIX
    return text if len(text) <= room else text[: room - 1] + "…"


def excerpt(analysis: Analysis) -> list[str]:
    """The trace from the first socket wait to the stop, without the lock traffic."""
    group = {t.pid for t in analysis.threads}
    parked = {id(t.waits_in) for t in analysis.threads if t.waits_in}
    chosen = []
    shown_clones: set[int] = set()
    for index, line in enumerate(analysis.lines):
        if line.pid not in group:
            continue
        call = line.call
        if line.signal is not None:
            keep = index == analysis.stop
        elif call is None:
            keep = False
        elif id(call) in parked:
            keep = True
        elif call.start >= analysis.stop or call.name == "futex":
            keep = False
        elif call.name.startswith("clone"):  # once, even when strace split it in two lines
            keep = "CLONE_THREAD" in call.args and id(call) not in shown_clones
            shown_clones.add(id(call))
        else:
            keep = True
        if keep:
            chosen.append(line)
    chosen = chosen[after_handshake(chosen, analysis) :]
    if not chosen:
        return ["  (nothing traced)"]
    start = chosen[0].time

    def row(ln: Line) -> str:
        return f"  {ln.pid % 100000:>5} {ln.time - start:+7.3f}s  {compact(ln, analysis)}"

    rows = [row(ln) for ln in chosen]
    if len(rows) > EXCERPT_LINES + 2:
        head, tail = EXCERPT_LINES // 4, EXCERPT_LINES - EXCERPT_LINES // 4
        skipped = len(rows) - head - tail
        rows = [*rows[:head], f"  {'':>5} {'':>8}  … {skipped} more lines …"]
        rows += [row(ln) for ln in chosen[-tail:]]
    return rows


def after_handshake(chosen: list[Line], analysis: Analysis) -> int:
    """Where the excerpt starts: the receiver's own sockets, not the bus's connect and auth.

    The first line on one of the step's sockets (or a thread being started for one), backed
    up to the wait of that thread it resumes (its epoll_wait ... <unfinished> line).
    """
    ours = {number for number, name in analysis.fd_names.items() if name != "bus"}
    clones = [i for i, ln in enumerate(chosen) if ln.call and ln.call.name.startswith("clone")]
    return min([first_on_our_sockets(chosen, ours), *clones])  # threads started are the story


def first_on_our_sockets(chosen: list[Line], ours: set[int]) -> int:
    for index, line in enumerate(chosen):
        name = line.call.name if line.call is not None else ""
        if name not in WAITS and name not in RECV:
            continue
        if not any(f"{number}<" in line.text or f"u32={number}," in line.text for number in ours):
            continue
        for back in range(index - 1, -1, -1):  # the wait this line resumes, if it is one
            earlier = chosen[back]
            if earlier.pid == line.pid:
                waits = earlier.call is not None and earlier.call.name in WAITS
                return back if waits and "unfinished" in earlier.text else index
        return index
    return 0


def report(step: table.Step, recording: Recording, messages: int) -> tuple[str, Analysis]:
    analysis = analyse(recording)
    sockets = " ".join(step.sockets)
    if len(recording.sockets) > len(step.sockets):
        sockets += f" --can {recording.sockets[-1]}"
    title = (
        f"step {step.n:02d} {step.title}: receiver.py {sockets} under strace -f,"
        f" {messages} datagram{'s' * (messages != 1)} per socket,"
        + (f" then {recording.burst} at once while it was stopped," if recording.burst else "")
        + f" then {recording.stop_signal}"
    )
    out = [
        *textwrap.wrap(title, WIDTH, subsequent_indent="    "),
        "",
        "trace (pid, seconds, call; from the first wait on its sockets, after the bus's auth):",
        *excerpt(analysis),
        "",
        *textwrap.wrap("summary: " + headline(step, analysis), WIDTH, subsequent_indent="    "),
        *(thread_line(thread, analysis) for thread in analysis.threads),
        "",
        PATTERN_HEADER,
        *("  " + row for row in pattern(analysis)),
    ]
    return "\n".join(out) + "\n", analysis
