"""Grader for step 08: the plotting client, headless (it writes a picture)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import Program, python, send

STEP = 8


def charts_in(image: Path) -> int:
    """Count the charts in the picture by their left frame lines (the axes' spines).

    The spine column is the most-dark column in the left quarter; each chart is
    one long vertical dark run in it, separated by its title and tick labels.
    """
    with Image.open(image) as picture:
        gray = picture.convert("L")
    width, height = gray.size

    def dark(x: int, y: int) -> bool:
        return gray.getpixel((x, y)) < 100  # type: ignore[operator]  # "L": one int per pixel

    spine = max(range(width // 4), key=lambda x: sum(dark(x, y) for y in range(height)))
    runs, length = 0, 0
    for y in range(height + 1):
        if y < height and dark(spine, y):
            length += 1
            continue
        runs += length > 40  # a frame line, not a tick mark or a letter
        length = 0
    return runs


@pytest.mark.idea
def test_headless_plot_has_one_chart_per_source(
    receiver: Start, step: Path, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    paths = [tmp_path / "load", tmp_path / "text"]
    receiver(*paths, extra=("--gpio", "sim"))
    picture = tmp_path / "plot.png"
    env = {key: value for key, value in step_env.items() if key != "DISPLAY"}
    plot = python(step / "client.py", "--save", picture, "--seconds", "3", env=env)
    programs.append(plot)
    plot.expect(rf"^one chart each for: {paths[0]}, {paths[1]}, simulated:0$")
    for n in range(30):
        send(paths[0], f"{n / 10}".encode())
        send(paths[1], f"event {n}".encode())
    plot.expect(rf"^wrote {picture}$", timeout=30)
    assert plot.wait() == 0
    assert picture.stat().st_size > 10_000
    with Image.open(picture) as image:
        assert image.format == "PNG" and min(image.size) > 200
    assert charts_in(picture) == 3


def test_animated_gif(
    receiver: Start, step: Path, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    receiver(tmp_path / "load", extra=("--gpio", "sim"))
    animation = tmp_path / "plot.gif"
    plot = python(step / "client.py", "--save", animation, "--seconds", "2", env=step_env)
    programs.append(plot)
    plot.expect(rf"^wrote {animation}$", timeout=30)
    with Image.open(animation) as image:
        assert (
            image.format == "GIF" and getattr(image, "n_frames", 1) > 1
        )  # an animation, not a still


def test_no_server_means_no_picture_and_says_so(
    step: Path, step_env: dict[str, str], tmp_path: Path
) -> None:
    picture = tmp_path / "plot.png"
    plot = python(step / "client.py", "--save", picture, "--seconds", "1", env=step_env)
    assert plot.wait() != 0
    assert plot.stderr == ["org.example.Incoming never appeared: nothing to plot"]
    assert not picture.exists()
