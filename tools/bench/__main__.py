"""python -m tools.bench [--quick] [--pin] [--out DIR] [--only PART,...]"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from tools.bench import broker, cost, filtering, memfd, peers, pipeline, raw, report
from tools.bench.common import BenchError, Options, Results
from tools.bus import BusError

PARTS = {
    "raw": raw.run,
    "pipeline": pipeline.run,
    "peers": peers.run,
    "cost": cost.run,
    "broker": broker.run,
    "memfd": memfd.run,
    "filtering": filtering.run,
}


def parse(argv: list[str]) -> tuple[Options, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats (~1 min)")
    parser.add_argument(
        "--pin", action="store_true", help="run bus, servers and clients on CPU 0 (taskset -c 0)"
    )
    parser.add_argument("--out", type=Path, default=Options().out, help="default: build/bench")
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts: {','.join(PARTS)}")
    args = parser.parse_args(argv)
    parts = [p for p in args.only.split(",") if p]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"no part {', '.join(unknown)}: the parts are {', '.join(PARTS)}")
    if args.pin and shutil.which("taskset") is None:
        parser.error("--pin needs taskset (Debian: util-linux)")
    return Options(quick=args.quick, pin=args.pin, out=args.out), parts


def main(argv: list[str]) -> int:
    options, parts = parse(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    results = Results()
    env = report.environment(options)
    started = time.monotonic()
    for part in parts:
        print(f"bench: {part} ...", file=sys.stderr, flush=True)
        try:
            PARTS[part](options, results)
        except (BenchError, BusError) as error:
            results.skip(part, "all", str(error))
    env["seconds"] = round(time.monotonic() - started, 1)
    print(report.table(results, env))
    path = report.write_json(results, env, options.out)
    charts = report.charts(results, env, options.out)
    print(f"\n{path}; charts: {', '.join(c.name for c in charts)} ({env['seconds']} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
