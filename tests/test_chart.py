"""chart.py (steps 08-13): what a chart shows is what its first message says; where its axis is."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import red_columns
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
    charts.draw()  # the title is set by setup() or, from step 13 on (the unit's state), by draw()
    title = charts.figure._suptitle.get_text()
    assert title == "2 sources of org.example.Incoming", title
    charts.headless = False  # as the notebooks' live widget has it
    charts.setup(["load", "sine", "simulated:0"])
    charts.draw()
    assert charts.figure._suptitle.get_text().endswith(", live")
    charts.plt.close("all")


@pytest.mark.parametrize("step", PLOTTING, ids=lambda s: f"step{s.n:02d}")
def test_the_time_axis_starts_where_every_chart_has_points(
    step: table.Step, tmp_path: Path
) -> None:
    """A busy source keeps its last WINDOW points, a quiet one more seconds: the shared time
    axis starts where the busy one does (notebook 08's lines once began a third of the way in)."""
    chart = chart_of(step, tmp_path)
    charts = chart.LiveCharts(save=str(tmp_path / "plot.png"))
    charts.setup(["busy", "quiet"])
    ticks = chart.WINDOW + 100
    for tick in range(ticks):  # busy: 10 a second; quiet: an edge a second
        seconds = tick / 10
        charts.series["busy"].add(seconds, f"{tick % 7}")
        if tick % 10 == 0:
            charts.series["quiet"].add(seconds, "rising" if tick % 20 else "falling")
    charts.draw()
    left, right = charts.axes["quiet"][0].get_xlim()
    first_busy = charts.series["busy"].times[0]
    assert first_busy == pytest.approx(10.0) and charts.series["quiet"].times[0] == 0
    assert (left, right) == pytest.approx((first_busy, (ticks - 1) / 10)), (left, right)
    charts.plt.close("all")


def test_a_marker_before_the_first_points_is_on_the_axis(tmp_path: Path) -> None:
    """Step 13: the service stopped while the client was still asking it for its sources; the
    charts began after it came back. The marker of that stop is on the axis all the same."""
    (step,) = [s for s in PLOTTING if s.n == 13]
    chart = chart_of(step, tmp_path)
    charts = chart.LiveCharts(save=str(tmp_path / "plot.png"))
    charts.marks.append(2.0)  # marked while there were no charts yet
    charts.setup(["busy"])
    for tick in range(30, 60):  # it came back at 3 s
        charts.series["busy"].add(tick / 10, f"{tick % 7}")
    charts.draw()
    left, right = charts.axes["busy"][0].get_xlim()
    assert left <= 2.0 < right, f"the marker at 2.0 s is off the axis ({left:.1f}..{right:.1f} s)"
    for tick in range(60, 60 + chart.WINDOW):  # a full window later, it has scrolled past
        charts.series["busy"].add(tick / 10, f"{tick % 7}")
    charts.draw()
    left, _ = charts.axes["busy"][0].get_xlim()
    assert left > 2.0, f"a full window later the axis still starts at {left:.1f} s"
    charts.plt.close("all")


@pytest.mark.parametrize("edge", ["first", "last"])
def test_a_marker_at_either_end_of_the_axis_is_drawn(edge: str, tmp_path: Path) -> None:
    """Step 13: the watchdog's stop is marked the moment the charts of the restarted server
    begin (or, if it stays down, after their last point): the marker is then the axis's very
    end, where the axes' frame is drawn over it, unless the axis leaves room."""
    (step,) = [s for s in PLOTTING if s.n == 13]
    chart = chart_of(step, tmp_path)
    picture = tmp_path / "plot.png"
    charts = chart.LiveCharts(save=str(picture))
    charts.setup(["busy"])
    ticks = range(30, 60) if edge == "first" else range(0, 30)
    charts.marks.append(3.0)  # the first point's moment, or the one after the last
    for tick in ticks:
        charts.series["busy"].add(tick / 10, f"{tick % 7}")
    charts.save()
    charts.plt.close("all")
    assert red_columns(picture) >= 1, f"the marker at 3.0 s, the {edge} end, is not drawn"
