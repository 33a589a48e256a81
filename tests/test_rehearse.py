"""`make rehearse`: one part of the run sheet played through a real tmux, with real saves."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.tmux_server import needs_tmux
from tools import rehearse, table
from tools.changes import Saves


@needs_tmux()
def test_a_typed_part_is_measured_against_its_budget(tmp_path: Path) -> None:
    parts = rehearse.load()["part"]
    number = next(i for i, part in enumerate(parts, 1) if part.get("step") == 4)
    env = {**os.environ, "TMUX_TMPDIR": str(tmp_path)}
    env.pop("TMUX", None)
    result = subprocess.run(
        [sys.executable, "-m", "tools.rehearse", "--parts", str(number)],
        cwd=table.ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    row = re.search(rf"^\s*{number}\. live step 4: .*?([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$",
                    result.stdout, re.M)  # fmt: skip
    assert row, result.stdout
    budget, typing, waits, total = map(float, row.groups())
    assert typing == 0.4 and waits > 0 and abs(total - typing - waits) < 0.11, result.stdout
    saved = json.loads((table.ROOT / "build" / "rehearse.json").read_text())
    assert saved[0]["label"].strip().startswith(f"{number}. live step 4")


def test_a_save_of_a_steps_configuration_file_counts(tmp_path: Path) -> None:
    """Step 11's unit and policy: saving one is a save (make live-11 regrades on it)."""
    saves = Saves(tmp_path, names=frozenset({"incoming.service"}))

    async def first_save() -> set[Path]:
        async def save() -> None:
            for n in range(1000):  # again until seen: the watch has no "ready" to wait for
                (tmp_path / "notes.txt").write_text(f"not a step file {n}\n")
                (tmp_path / "incoming.service").write_text(f"[Service]\nType=dbus\n# {n}\n")
                await asyncio.sleep(0.2)

        writer = asyncio.create_task(save())
        async for changed in saves:
            writer.cancel()
            return changed
        raise AssertionError("no save seen")

    changed = asyncio.run(asyncio.wait_for(first_save(), 30))
    assert {path.name for path in changed} == {"incoming.service"}
