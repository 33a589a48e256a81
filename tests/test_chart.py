"""chart.py (steps 08-11, identical): what a chart shows is what its first message says."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tools import table

PLOTTING = [s for s in table.load() if (s.folder(table.ROOT / "steps") / "chart.py").exists()]


def chart_of(step: table.Step, tmp_path: Path) -> ModuleType:
    path = step.folder(table.ROOT / "steps") / "chart.py"
    spec = importlib.util.spec_from_file_location(f"chart_{step.n}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("step", PLOTTING, ids=lambda s: f"step{s.n:02d}")
def test_a_first_value_of_zero_is_a_value(step: table.Step, tmp_path: Path) -> None:
    """sin(0) = "0.000" once made the sine chart a message rate (0.0 is falsy)."""
    series = chart_of(step, tmp_path).Series()
    series.add(0.0, "0.000")
    series.add(0.1, "0.100")
    assert series.kind == "values" and list(series.values) == [0.0, 0.1]


@pytest.mark.parametrize("step", PLOTTING, ids=lambda s: f"step{s.n:02d}")
def test_a_saved_picture_is_not_titled_live(step: table.Step, tmp_path: Path) -> None:
    charts = chart_of(step, tmp_path).LiveCharts(save=str(tmp_path / "plot.png"))
    charts.setup(["load", "sine"])
    title = charts.figure._suptitle.get_text()
    assert title == "2 sources of org.example.Incoming", title
    charts.headless = False  # as the notebooks' live widget has it
    charts.setup(["load", "sine", "simulated:0"])
    assert charts.figure._suptitle.get_text().endswith(", live")
    charts.plt.close("all")
