"""The benchmark's output: a plain table, bench.json, and one PNG chart per comparison."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from tools.bench.common import Figure, Options, Results

PACKAGES = ["sdbus", "dbus-fast", "jeepney", "dbus-python", "matplotlib"]
TOOLS = {
    "dbus-daemon": ["dbus-daemon", "--version"],
    "dbus-broker": ["dbus-broker", "--version"],
    "strace": ["strace", "--version"],
}
TITLES = {
    "raw": "Raw AF_UNIX datagrams, Python to Python (the physical limit)",
    "pipeline": "The steps' pipeline: datagram -> server (step 06, step 10) -> Message -> client",
    "breakdown": "Where a message's time goes in the server: step 06 against step 10",
    "clients": "Clients against one sdbus server (dbus-daemon)",
    "servers": "Servers against one sdbus client (dbus-daemon)",
    "cost": "The cost of one method call (client -> server, through dbus-daemon)",
    "broker": "dbus-broker against dbus-daemon (sdbus client -> sdbus server)",
    "memfd": "A big payload: ms until the client holds it, as ay or as a sealed memfd (h)",
    "filtering": "N sources at 250/s each: a client subscribed to all Messages vs with arg0='src0'",
}


def environment(options: Options) -> dict[str, object]:
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    for tool, argv in TOOLS.items():
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
            versions[tool] = out.strip().splitlines()[0] if out.strip() else None
        except (OSError, subprocess.TimeoutExpired):
            versions[tool] = None
    return {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average": os.getloadavg(),
        "pinning": options.mode,
        "quick": options.quick,
        "repeats": options.repeats,
        "versions": versions,
    }


def number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(results: Results, env: dict[str, object]) -> str:
    lines = [
        f"make bench: {env['pinning']}; medians of {env['repeats']} repeats"
        f"{' (quick)' if env['quick'] else ''}; {env['cpus']} CPUs, load {env['load_average']}",
    ]
    sections = list(dict.fromkeys(f.section for f in results.figures))
    for section in sections:
        lines += ["", TITLES.get(section, section)]
        for f in results.section(section):
            spread = f"{number(min(f.repeats))}-{number(max(f.repeats))}"
            ratio = f"x{f.ratio:.2f} vs {f.baseline}" if f.ratio is not None else ""
            lines.append(
                f"  {f.name:<36} {number(f.median):>10} {f.unit:<14} "
                f"[{spread:>17}]  {ratio:<28} {f.note}"
            )
    if results.skipped:
        lines += ["", "Skipped"]
        lines += [f"  {s['section']}/{s['name']}: {s['reason']}" for s in results.skipped]
    return "\n".join(lines)


def write_json(results: Results, env: dict[str, object], out: Path) -> Path:
    path = out / "bench.json"
    path.write_text(json.dumps({"environment": env, **results.as_json()}, indent=1) + "\n")
    return path


def bars(
    path: Path, title: str, figures: list[Figure], groups: list[str], env: dict[str, object]
) -> None:
    """One bar per figure, grouped by the part of the name after the '/'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 4.2), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        chosen = [f for f in figures if f.name.endswith("/" + group) or f.name == group]
        labels = [f.name.rsplit("/", 1)[0] if "/" in f.name else f.name for f in chosen]
        values = [f.median for f in chosen]
        low = [f.median - min(f.repeats) for f in chosen]
        high = [max(f.repeats) - f.median for f in chosen]
        ax.bar(range(len(chosen)), values, yerr=[low, high], capsize=3, color="#4c72b0")
        ax.set_xticks(range(len(chosen)), labels, rotation=30, ha="right")
        unit = chosen[0].unit if chosen else ""
        ax.set_title(group)
        ax.set_ylabel(unit)
        for i, f in enumerate(chosen):
            if f.ratio is not None:
                ax.annotate(f"x{f.ratio:.2f}", (i, f.median), ha="center", va="bottom", fontsize=8)
    fig.suptitle(f"{title}\n({env['pinning']}, medians of {env['repeats']}; bars: min-max)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def charts(results: Results, env: dict[str, object], out: Path) -> list[Path]:
    written = []
    plans: dict[str, list[str]] = {
        "raw": ["blocking", "sock_recv", "reader", "rtt"],
        "clients": ["calls1", "calls100", "signals"],
        "servers": ["calls1", "calls100", "signals"],
        "broker": ["calls1", "calls100", "signals"],
        "pipeline": ["throughput", "latency-p50", "latency-p99"],
    }
    for section, groups in plans.items():
        figures = results.section(section)
        if not figures:
            continue
        if section == "raw":  # one panel of rates, one of the round trip
            figures = [
                Figure(
                    f.section,
                    f"{f.name}/{'rtt' if f.name == 'rtt' else 'rate'}",
                    f.unit,
                    f.median,
                    f.repeats,
                    f.baseline,
                    f.ratio,
                )
                for f in figures
            ]
            groups = ["rate", "rtt"]
        elif section == "pipeline":  # step 06, step 10, the ceiling side by side
            groups = [g for g in groups if any(f.name.endswith("/" + g) for f in figures)]
        path = out / f"{section}.png"
        bars(path, TITLES[section], figures, groups, env)
        written.append(path)
    cost = [f for f in results.section("cost") + results.section("broker") if "/" in f.name]
    for metric in ("ctxsw", "syscalls"):
        chosen = [f for f in cost if f.name.endswith("/" + metric)]
        if not chosen:
            continue
        regrouped = [
            Figure(
                f.section,
                f"{f.name.rsplit('/', 2)[0]}/{f.name.rsplit('/', 2)[1]}",
                f.unit,
                f.median,
                f.repeats,
                f.baseline,
                f.ratio,
            )
            for f in chosen
        ]
        roles = list(dict.fromkeys(f.name.rsplit("/", 1)[1] for f in regrouped))
        path = out / f"cost-{metric}.png"
        bars(path, f"{TITLES['cost']}: {metric} per call", regrouped, roles, env)
        written.append(path)
    from tools.bench import breakdown, memfd  # charts of their own

    written += breakdown.chart(results, env, out)
    written += memfd.chart(results, env, out)
    from tools.bench import filtering  # N = 2, 4, 8 sources: panels of its own

    written += filtering.chart(results, env, out)
    return written
