"""Part 1, the physical limit: AF_UNIX datagrams between two Python processes."""

from __future__ import annotations

import os
import tempfile

from tools.bench.common import ROOT, Figure, Options, Results, median, start_worker

MODES = {
    "blocking": "blocking recv()",
    "sock_recv": "asyncio sock_recv()",
    "reader": "asyncio reader, drain to EAGAIN",
}


def run(options: Options, results: Results) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    count = max(2000, int(200_000 * options.target))
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as folder:
        path = os.path.join(folder, "sink")
        for mode, label in MODES.items():
            args = ["raw-recv", mode, path, str(count), str(options.repeats)]
            with start_worker(args, options, env) as receiver:
                total = 1 + count * options.repeats
                with start_worker(["raw-send", path, str(total)], options, env) as sender:
                    sender.read()
                    rounds = receiver.read()["rounds"]
            rates = [count / elapsed for elapsed in rounds]
            results.add(Figure("raw", mode, "msg/s", median(rates), rates, note=label))
        results.ratios("raw", "blocking", list(MODES))

        pings = max(500, int(40_000 * options.target))
        server = os.path.join(folder, "echo")
        with start_worker(["raw-echo", server], options, env):
            args = ["raw-ping", os.path.join(folder, "ping"), server, str(pings)]
            with start_worker([*args, str(options.repeats)], options, env) as pinger:
                rounds = pinger.read()["rounds"]
        rtts = [elapsed / pings * 1e6 for elapsed in rounds]
        results.add(Figure("raw", "rtt", "µs", median(rtts), rtts, note="ping-pong round trip"))
