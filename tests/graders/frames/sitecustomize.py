"""Loaded by the step 08 grader into the plotting client (PYTHONPATH): logs frames and messages.

To the file named by $INCOMING_FRAMES, one line per event, in order: `frame` each time a
matplotlib figure is rendered, `add` each time the step's chart.LiveCharts.add() takes
a message. The grader reads the order: a plot paced by a frame clock takes a burst of
messages and then renders once; a plot paced by messages renders after each of them.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

LOG = os.environ.get("INCOMING_FRAMES")


def logged(event: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        finally:
            with open(str(LOG), "a") as log:
                log.write(f"{event}\n")

    return wrapper


class ChartFinder(importlib.abc.MetaPathFinder):
    """Finds the step's chart.py as usual, then wraps LiveCharts.add once it has run."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "chart":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            charts = getattr(module, "LiveCharts", None)
            if charts is not None and callable(getattr(charts, "add", None)):
                charts.add = logged("add", charts.add)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if LOG:
    import matplotlib.figure

    matplotlib.figure.Figure.draw = logged("frame", matplotlib.figure.Figure.draw)  # type: ignore[method-assign]
    sys.meta_path.insert(0, ChartFinder())
