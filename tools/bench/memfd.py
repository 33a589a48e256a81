"""Part 6, big payloads: the bytes copied into the message (ay) or a sealed memfd (h).

    python -m tools.bench.memfd serve                 the payload server (python-sdbus)
    python -m tools.bench.memfd client PLAN_JSON      one JSON line per size and way

The server (org.example.Blob on a private bus) answers Bytes(u size) -> ay and
Memfd(u size) -> h. It builds each size's payload once, before the clock starts:
the bytes, and a memfd holding the same bytes, sealed (write, shrink, grow, seal),
so that every caller can be handed the same pages. The client times one call until
it holds the payload, ready to read:

  ay             the reply's bytes: copied server -> socket -> dbus-daemon -> socket -> us
  memfd          the fd received, its seals checked, mapped read-only (pages not yet touched)
  memfd+touch    the same, then one byte read from every page (first-touch page faults)

Outside the clock, the client checks that the two ways give the same bytes, and that
it leaked no file descriptor. Sizes 1 KiB ... 64 MiB (the D-Bus limit for one array);
medians of repeats, fewer repeats for the big ones.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import mmap
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.helpers import Program
from tools.bench.common import ROOT, BenchError, Figure, Options, Results

NAME = "org.example.Blob"
PATH = "/org/example/Blob"
IFACE = "org.example.Blob"
KiB, MiB = 1024, 1024 * 1024
SIZES = [KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB, 16 * MiB, 64 * MiB]
QUICK_SIZES = [KiB, 64 * KiB, MiB, 16 * MiB]
WAYS = ["ay", "memfd", "memfd+touch"]
SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
TIMEOUT = 120.0  # seconds for the whole sweep's client: only hit when something hangs


def label(size: int) -> str:
    return f"{size // MiB}MiB" if size >= MiB else f"{size // KiB}KiB"


def payload(size: int) -> bytes:
    """size bytes that are not all alike (a hash chain), the same in server and client."""
    block = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(256))  # 8 KiB
    return (block * (size // len(block) + 1))[:size]


# --- the server -------------------------------------------------------------------------------


def serve() -> None:
    import sdbus
    from sdbus import DbusInterfaceCommonAsync, dbus_method_async

    class Blob(DbusInterfaceCommonAsync, interface_name=IFACE):
        def __init__(self) -> None:
            super().__init__()
            self.payloads: dict[int, bytes] = {}
            self.memfds: dict[int, int] = {}  # size -> a sealed memfd, kept open, shared

        def data(self, size: int) -> bytes:
            if size not in self.payloads:
                self.payloads[size] = payload(size)
            return self.payloads[size]

        @dbus_method_async(input_signature="u", result_signature="ay", method_name="Bytes")
        async def bytes_(self, size: int) -> bytes:
            # A reply bigger than the socket takes at once waits in sd-bus's queue, and
            # python-sdbus 0.14 only waits for "writable" inside process(): call it once the
            # reply is queued, or the rest waits for the next incoming message (see publish()
            # in steps/06_dbus_server/interface.py).
            asyncio.get_running_loop().call_soon(sdbus.get_default_bus().process)
            return self.data(size)

        @dbus_method_async(input_signature="u", result_signature="h", method_name="Memfd")
        async def memfd(self, size: int) -> int:
            if size not in self.memfds:
                fd = os.memfd_create(f"blob-{size}", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
                view = memoryview(self.data(size))
                while view:
                    view = view[os.write(fd, view) :]
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
                self.memfds[size] = fd
            return self.memfds[size]  # sd-bus sends a duplicate; ours stays for the next caller

    async def main() -> None:
        bus = sdbus.sd_bus_open_user()
        sdbus.set_default_bus(bus)
        blob = Blob()
        blob.export_to_dbus(PATH)
        await bus.request_name_async(NAME, 0)
        print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# --- the client -------------------------------------------------------------------------------


def client(plan: dict[str, Any]) -> None:
    import sdbus
    from sdbus import DbusInterfaceCommon, dbus_method

    class Blob(DbusInterfaceCommon, interface_name=IFACE):
        @dbus_method(input_signature="u", result_signature="ay", method_name="Bytes")
        def bytes_(self, size: int) -> bytes:
            raise NotImplementedError

        @dbus_method(input_signature="u", result_signature="h", method_name="Memfd")
        def memfd(self, size: int) -> int:
            raise NotImplementedError

    sdbus.set_default_bus(sdbus.sd_bus_open_user())
    blob = Blob(NAME, PATH)
    fds_before = len(os.listdir("/proc/self/fd"))

    def mapped(size: int) -> mmap.mmap:
        fd = blob.memfd(size)
        try:
            if fcntl.fcntl(fd, fcntl.F_GET_SEALS) & SEALS != SEALS:
                raise ValueError("the memfd is not sealed")
            if os.fstat(fd).st_size != size:
                raise ValueError(f"the memfd holds {os.fstat(fd).st_size} bytes, not {size}")
            return mmap.mmap(fd, size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)

    def once(way: str, size: int) -> float:
        if way == "ay":
            start = time.perf_counter()
            data = blob.bytes_(size)
            elapsed = time.perf_counter() - start
            assert len(data) == size
            return elapsed
        start = time.perf_counter()
        view = mapped(size)
        if way == "memfd+touch":
            sum(view[:: mmap.PAGESIZE])  # one byte of every page: the kernel maps each in
        elapsed = time.perf_counter() - start
        view.close()
        return elapsed

    def say(**fields: object) -> None:
        print(json.dumps(fields), flush=True)

    for size in plan["sizes"]:
        assert isinstance(size, int)
        try:
            view = mapped(size)  # warm-up, and the server builds this size's payload
            same = hashlib.sha256(view).digest() == hashlib.sha256(blob.bytes_(size)).digest()
            view.close()
        except Exception as error:  # reported as skipped figures, with the reason
            for way in WAYS:
                say(size=size, way=way, error=f"{type(error).__name__}: {error}")
            continue
        calls = max(1, min(50, 256 * KiB // size))  # calls per repeat: small sizes need more
        repeats = int(plan["repeats"]) if size < 64 * MiB else min(3, int(plan["repeats"]))
        for way in WAYS:
            try:
                seconds = [
                    sum(once(way, size) for _ in range(calls)) / calls for _ in range(repeats)
                ]
            except Exception as error:
                say(size=size, way=way, error=f"{type(error).__name__}: {error}")
                continue
            say(size=size, way=way, seconds=seconds, same=same)
    leaked = len(os.listdir("/proc/self/fd")) - fds_before
    print(json.dumps({"done": True, "leaked_fds": leaked}), flush=True)


# --- the part of `make bench` -----------------------------------------------------------------


def run(options: Options, results: Results) -> None:
    from tools.bench.peers import bus_for

    sizes = QUICK_SIZES if options.quick else SIZES
    with bus_for(options) as (_, env):
        here = [*options.prefix(), sys.executable, "-m", "tools.bench.memfd"]
        server = Program([*here, "serve"], cwd=ROOT, env=env)
        try:
            server.expect(r"^\{", timeout=30)
            plan = json.dumps({"sizes": sizes, "repeats": options.repeats})
            sweep = Program([*here, "client", plan], cwd=ROOT, env=env)
            try:
                rows = [
                    json.loads(sweep.expect(r"^\{", TIMEOUT).string)
                    for _ in range(len(sizes) * len(WAYS) + 1)
                ]
            finally:
                sweep.stop()
        except AssertionError as error:
            lines = [line for line in str(error).splitlines() if line.strip()]
            raise BenchError(f"memfd: {lines[0].split(': ', 1)[-1]}; {lines[-1]}") from None
        finally:
            server.stop()
    done = rows.pop()
    for row in rows:
        size, way = row["size"], row["way"]
        if "error" in row:
            results.skip("memfd", f"{way}/{label(size)}", row["error"])
            continue
        ms = [s * 1e3 for s in row["seconds"]]
        note = "" if row["same"] else "CONTENTS DIFFER"
        results.add(
            Figure("memfd", f"{way}/{label(size)}", "ms", statistics.median(ms), ms, note=note)
        )
    for size in sizes:
        results.ratios("memfd", f"ay/{label(size)}", [f"{w}/{label(size)}" for w in WAYS])
        for way in WAYS[1:]:
            figure = results.get("memfd", f"{way}/{label(size)}")
            if figure is not None and figure.ratio:
                times = (
                    f"{1 / figure.ratio:,.0f}" if figure.ratio < 0.1 else f"{1 / figure.ratio:.1f}"
                )
                faster = f"{times}x faster than ay" if figure.ratio < 1 else ""
                slower = f"ay is {figure.ratio:.1f}x faster" if figure.ratio >= 1 else ""
                figure.note = " ".join(filter(None, [figure.note, faster, slower]))
    if done["leaked_fds"]:
        results.skip("memfd", "fds", f"the client leaked {done['leaked_fds']} file descriptors")


def chart(results: Results, env: dict[str, object], out: Path) -> list[Path]:
    """Time per call against payload size, log-log, one line per way."""
    figures = results.section("memfd")
    if not figures:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, speed) = plt.subplots(1, 2, figsize=(11, 4.4))
    colors = ["#4c72b0", "#dd8452", "#55a868"]
    for way, style, color in zip(WAYS, ["o-", "s-", "^--"], colors, strict=True):
        points = [(f, f.name.split("/")[1]) for f in figures if f.name.split("/")[0] == way]
        sizes = [parse_label(name) for _, name in points]
        ax.errorbar(
            sizes,
            [f.median for f, _ in points],
            yerr=[
                [f.median - min(f.repeats) for f, _ in points],
                [max(f.repeats) - f.median for f, _ in points],
            ],
            fmt=style,
            color=color,
            capsize=3,
            label=way,
        )
        if way != "ay":
            speedup = [1 / f.ratio if f.ratio else 0 for f, _ in points]
            speed.plot(sizes, speedup, style, color=color, label=way)
    speed.axhline(1, color="gray", linewidth=1, linestyle=":")
    shown = sorted({parse_label(f.name.split("/")[1]) for f in figures})
    for axis in (ax, speed):
        axis.set_xscale("log", base=2)
        axis.set_xticks(shown, [label(n) for n in shown], rotation=30)
        axis.minorticks_off()
        axis.set_xlabel("payload size (bytes)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    ax.set_yscale("log")
    ax.set_ylabel("ms per call (median)")
    ax.set_title("time until the client holds the payload")
    speed.set_yscale("log")
    speed.set_ylabel("times faster than ay")
    speed.set_title("speed-up of the sealed memfd")
    fig.suptitle(f"{TITLE}\n({env['pinning']}, medians of up to {env['repeats']}; bars: min-max)")
    fig.tight_layout()
    path = out / "memfd.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]


TITLE = "A big payload: copied into the message (ay) or passed as a sealed memfd (h)"


def parse_label(name: str) -> int:
    return int(name[:-3]) * (MiB if name.endswith("MiB") else KiB)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve()
    elif sys.argv[1:2] == ["client"] and len(sys.argv) == 3:
        client(json.loads(sys.argv[2]))
    else:
        sys.exit(__doc__.splitlines()[2].strip())
