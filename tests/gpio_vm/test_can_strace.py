"""`make strace-5 CAN=vcan0` on a real kernel: the CAN socket waits in the same epoll_wait.

Runs where the kernel has CAN sockets and a vcan interface can be made (root): inside the
gpio-vm (`make test-gpio-vm`), or on a machine whose kernel has vcan. Skipped elsewhere,
with the reason (this test's host-side twin, in tests/test_strace_demo.py, checks that
`make strace-5 CAN=vcan0` says why it cannot run there).
"""

from __future__ import annotations

import os

import pytest

from tools import can_sim, strace_demo, table


def why_skip() -> str | None:
    if reason := can_sim.unavailable():
        return reason
    if os.geteuid() != 0 and not can_sim.exists():
        return "making vcan0 needs root; `make test-gpio-vm` runs this in a VM"
    return None


pytestmark = pytest.mark.skipif(why_skip() is not None, reason=str(why_skip()))


def test_can_socket_is_watched_by_the_same_epoll_wait() -> None:
    if not can_sim.exists():
        can_sim.create()
    step = table.get(5)
    text, analysis = strace_demo.run(step, step.folder(), messages=3, can=can_sim.IFACE)
    print(text)  # -rA shows it: the excerpt as make strace-5 CAN=vcan0 prints it
    can_fds = [fd for fd, name in analysis.fd_names.items() if name == can_sim.IFACE]
    assert len(can_fds) == 1, f"no fd bound to {can_sim.IFACE} in the trace: {analysis.fd_names}"
    loop_calls = [c for c in analysis.main.calls if c.name in strace_demo.LOOP]
    ready = set().union(*(strace_demo.readable(call) for call in loop_calls))
    names = {analysis.fd_names.get(fd) for fd in ready}
    assert {*step.sockets, can_sim.IFACE} <= names, f"epoll_wait reported only {names}"
    pattern = strace_demo.pattern(analysis)
    assert f"main thread: waits in epoll_wait; received from load, sine, {can_sim.IFACE}" in (
        pattern
    ), pattern
    assert "every recvmsg came after epoll_wait reported its socket readable" in pattern, pattern
