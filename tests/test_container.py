"""The container image (Dockerfile), built here and checked from inside as its non-root user.

`make test` builds it first where it can (Debian, root, podman, debootstrap:
`make container-setup`, see tools/container.py); elsewhere these tests are skipped with the
reason. The base image comes from debootstrap under the FROM line's exact name, the image
from the project's own Dockerfile with --pull=never: the same file a user builds. podman's
layer cache makes a rebuild with only the sources changed take seconds.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tools import container, table

pytestmark = pytest.mark.slow
TOKEN = secrets.token_hex(16)  # the image's Jupyter server's, for these tests


@pytest.fixture(scope="module")
def image() -> str:
    if reason := container.unavailable():
        pytest.skip(reason)
    try:
        container.ensure_base(echo=False)  # once; then podman has it
        container.build(podman_here=True, echo=False)  # cached layers: seconds
    except container.ContainerError as error:
        pytest.fail(f"container: {error}")
    return container.IMAGE


def inside(command: str, *extra: str) -> str:
    """Run command in a fresh container; fail with its output's tail if it fails."""
    done = container.in_image(command, *extra)
    output = done.stdout + done.stderr
    tail = "\n".join(output.splitlines()[-30:])
    assert done.returncode == 0, f"`{command}` in the image exited {done.returncode}:\n{tail}"
    assert "Traceback" not in output, f"`{command}` printed a traceback:\n{tail}"
    return output


def test_it_runs_as_the_non_root_user_in_its_home(image: str) -> None:
    user, uid, home, cwd, owner = inside("id -un; id -u; echo $HOME; pwd; stat -c %u .").split()
    assert (user, uid) == ("jovyan", "1000")
    assert home == cwd == "/home/jovyan", "the repository is in $HOME (repo2docker's rule)"
    assert owner == "1000", "the repository belongs to the user"


@pytest.mark.parametrize("step", table.load(), ids=lambda step: f"check-{step.n}")
def test_every_grader_passes_inside(image: str, step: table.Step) -> None:
    output = inside(f"make check-{step.n}")
    assert f"step {step.n} passes" in output


def test_strace_needs_no_added_capability(image: str) -> None:
    """strace -f of a program it starts itself: the default seccomp profile allows ptrace."""
    output = inside("make strace-4")
    assert "summary: step 04: 1 thread" in output, output[-2000:]


def test_make_demo_draws_its_picture(image: str) -> None:
    plotting = [step for step in table.load() if "display" in step.needs and step.client]
    picture = f"run/plot-step-{plotting[-1].n}.png"
    output = inside(f"make demo DURATION=6 && head -c 8 {picture} | od -An -c")
    assert "P   N   G" in output, output[-2000:]


def test_the_notebooks_run_headless(image: str) -> None:
    """Every notebook executed top to bottom on the kernel "incoming"; any cell error fails.
    (The notebooks' waits keep their default timeout: 10 s was too short on a busy machine.)"""
    script = (
        "export INCOMING_MY_STEPS=/tmp/my_steps; cd notebooks;"
        ' for nb in [0-9][0-9]_*.ipynb; do echo "== $nb";'
        ' jupyter execute --kernel_name=incoming "$nb" || exit 1; done'
    )
    output = inside(script)
    ran = [line for line in output.splitlines() if line.startswith("== ")]
    assert len(ran) == len(list((table.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))


def test_pip_reaches_pypi(image: str) -> None:
    inside("pip download -q --no-deps --dest /tmp/wheels jeepney==0.9.0 && ls /tmp/wheels")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(image: str, request: pytest.FixtureRequest) -> Iterator[int]:
    """The image started detached, port 8888 published on 127.0.0.1; yields the host port."""
    port = free_port()
    argv = ["podman", "run", "-d", "--rm", *container.PODMAN_RUN]
    argv += ["-p", f"127.0.0.1:{port}:8888", "-e", f"JUPYTER_TOKEN={TOKEN}", image, *request.param]
    started = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stderr
    ident = started.stdout.strip()
    try:
        yield port
    finally:
        subprocess.run(["podman", "rm", "-f", ident], capture_output=True, check=False)


def api(port: int, path: str) -> str:
    """GET a path of the image's Jupyter server, with the token the container was given."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}?token={TOKEN}", timeout=10) as r:
        return str(r.read().decode())


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


@pytest.mark.parametrize(
    "served",
    [(), ("jupyter", "notebook", "--ip=0.0.0.0", "--port=8888", "--no-browser")],
    ids=["default-command", "binder-command"],
    indirect=True,
)
def test_jupyter_answers_http_on_the_published_port(served: int) -> None:
    """The default command (JupyterLab), and a command like Binder's through the entrypoint."""
    wait_until(lambda: answers(served), "Jupyter to answer on the published port", timeout=90)
    with urllib.request.urlopen(f"http://127.0.0.1:{served}/api", timeout=5) as reply:
        assert "version" in json.loads(reply.read())


def test_the_mirror_is_apts_own(tmp_path: Path) -> None:
    """debootstrap takes the mirror from apt's sources (one-line or deb822), never our own."""
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    with pytest.raises(container.ContainerError, match="no Debian mirror"):
        container.mirror(apt)
    (apt / "sources.list").write_text(
        "deb [arch=amd64] http://mirror.example/debian/ bookworm main\n"
    )
    assert container.mirror(apt) == "http://mirror.example/debian"
    (apt / "sources.list").unlink()
    (apt / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://other.example/debian\nSuites: bookworm\nComponents: main\n"
    )
    assert container.mirror(apt) == "http://other.example/debian"


@pytest.mark.parametrize("served", [()], ids=["default-command"], indirect=True)
def test_jupyterlab_in_the_image_is_set_up_as_make_notebooks(served: int) -> None:
    """mk/jupyter/ in the image too: the notebooks without their .py pairs, one kernel, no news."""
    wait_until(lambda: answers(served), "Jupyter to answer on the published port", timeout=90)
    served_names = {item["name"] for item in json.loads(api(served, "/api/contents"))["content"]}
    assert "01_sockets.ipynb" in served_names and "01_sockets.py" not in served_names, served_names
    specs = json.loads(api(served, "/api/kernelspecs"))
    assert list(specs["kernelspecs"]) == ["incoming"] and specs["default"] == "incoming", specs
    news = json.loads(api(served, "/lab/api/settings/@jupyterlab/apputils-extension:notification"))
    assert news["schema"]["properties"]["fetchNews"]["default"] == "false", news["schema"]
