"""Grader for step 08: the plotting client, headless (it writes a picture).

The idea is that a frame clock paces the plot, not the messages: frames/sitecustomize.py,
loaded into the client, logs each frame rendered and each message the charts take, in
order. A burst of messages, all waiting at once (the client is stopped while they are
sent), is taken and then drawn in one frame by a plot on a frame clock, whatever the
clock's kind (asyncio.sleep, call_later, fixed instants); a plot that redraws for
messages draws a frame after each. Nothing here depends on timing. And the loop waits
only in epoll_wait: a frame clock made of plt.pause() or time.sleep() stops the rest.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from PIL import Image

from tests.graders import kernel
from tests.graders.common import *  # noqa: F403
from tests.graders.common import Start
from tests.helpers import Program, python, send, wait_until

STEP = 8
FPS = 10  # the step's frame clock: redraw ten times a second
FRAMES = Path(__file__).parent / "frames"  # a sitecustomize.py that logs each frame
BURST = 150  # messages sent at once: a plot paced by messages would redraw for each
REDRAWN = 3  # frames right after a message, of a burst all waiting at once: a clock draws ~1
SLEEPS = {"clock_nanosleep", "nanosleep", "select", "pselect6", "poll", "ppoll"}


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


def frames_after_a_message(log: Path) -> tuple[int, int]:
    """How many messages the chart took, and how many frames came right after one."""
    events = log.read_text().split() if log.exists() else []
    pairs = zip(events, events[1:], strict=False)
    return events.count("add"), sum(pair == ("add", "frame") for pair in pairs)


@pytest.mark.idea
def test_frames_are_paced_by_the_frame_clock_not_by_messages(
    receiver: Start, step: Path, step_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    path = tmp_path / "load"
    server = receiver(path, extra=("--gpio", "none:0"))  # only our messages
    log = tmp_path / "frames"
    env = {key: value for key, value in step_env.items() if key != "DISPLAY"}
    paths = [str(FRAMES), *filter(None, [env.get("PYTHONPATH")])]
    env.update(PYTHONPATH=os.pathsep.join(paths), INCOMING_FRAMES=str(log))
    plot = python(step / "client.py", "--save", tmp_path / "plot.png", "--seconds", "600", env=env)
    programs.append(plot)  # it is stopped once it has drawn the burst
    plot.expect(rf"^one chart each for: {path}$")
    seen = kernel.samples(plot.pid, plot.pid, count=100)  # idle: only the frame clock ticks
    slept = [look.syscall for look in seen if look.asleep and look.syscall in SLEEPS]
    assert not slept, (
        f"why: the plot's loop slept in {slept[0]} ({len(slept)} of {len(seen)} looks), not in"
        " epoll_wait: a frame clock of plt.pause() or time.sleep() stops the whole loop;"
        f" await asyncio.sleep(1 / fps) between frames"
    )
    log.write_text("")  # from here on: the burst
    plot.signal(signal.SIGSTOP)  # the burst waits for the client, all of it at once
    try:
        send(path, *(f"{n / BURST}".encode() for n in range(BURST)))
        for n in range(BURST):
            server.expect(rf": {n / BURST}$")
    finally:
        plot.signal(signal.SIGCONT)

    def known() -> bool:  # drawn after the whole burst, or a frame per message already
        events = log.read_text().split()
        added, redrawn = frames_after_a_message(log)
        return redrawn > REDRAWN or (added >= BURST and events[-1:] == ["frame"])

    try:
        wait_until(known, f"a frame after the {BURST} messages")
    except AssertionError:
        added, _ = frames_after_a_message(log)
        raise AssertionError(
            f"why: the charts took {added} of the {BURST} messages sent (charts.add()) and drew"
            " no frame after them"
        ) from None
    added, redrawn = frames_after_a_message(log)
    assert redrawn <= REDRAWN, (
        f"why: {redrawn} of {added} messages were each followed by a frame of their own"
        f" ({BURST} of them waiting at once): the plot redraws for messages; let one task"
        f" redraw on a frame clock ({FPS} per second) and the message task only add"
    )


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
