"""The container image (Dockerfile): build it, run JupyterLab in it, and test it here.

    python3 -m tools.container build [--if-possible]   # make container / container-setup
    python3 -m tools.container run                     # make container-run
    python3 -m tools.container test                    # make test-container

`build` and `run` use podman or docker, whichever is installed ($CONTAINER chooses).
`build --if-possible` and `test` are for this kind of machine (Debian, root, podman, no
container registry): the Dockerfile's base image is made from Debian's packages with
`debootstrap --variant=minbase` and imported under the exact name its FROM line uses, and
the project's own Dockerfile is built with --pull=never. Both stay in podman's storage:
the base is made once, and podman's layer cache rebuilds the venv layer only when the
Dockerfile or requirements.txt change (the repository's own layer is seconds).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.table import ROOT

DOCKERFILE = ROOT / "Dockerfile"
IMAGE = "localhost/incoming"
SUITE = "bookworm"
APT_SOURCES = Path("/etc/apt")
# podman on this kind of host: crun fails on hybrid cgroups and on setrlimit, runc works.
# Explicit limits: podman's default nofile (1048576) is refused by some hosts' runc.
LIMITS = ["--ulimit", "nofile=1024:4096", "--ulimit", "nproc=4096:4096"]
PODMAN_RUN = ["--runtime", "runc", *LIMITS]
# The host's CA bundle, for pip inside: where a TLS-inspecting proxy stands between this
# machine and PyPI, its CA is only there.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
CA_INSIDE = "/etc/host-ca.crt"


def host_trust(build: bool) -> list[str]:
    """podman arguments that let pip inside trust what the host trusts."""
    if not HOST_CA.is_file():
        return []
    pip_cert = ["--build-arg" if build else "--env", f"PIP_CERT={CA_INSIDE}"]
    return ["--volume", f"{HOST_CA}:{CA_INSIDE}:ro", *pip_cert]


class ContainerError(Exception):
    """Why the image cannot be built or run here, in one line."""


def engine() -> str:
    """podman or docker, whichever is installed ($CONTAINER chooses)."""
    chosen = os.environ.get("CONTAINER") or shutil.which("podman") or shutil.which("docker")
    if not chosen:
        raise ContainerError("neither podman nor docker is installed")
    return chosen


def is_podman(tool: str) -> bool:
    return Path(tool).name.startswith("podman")


def base_image() -> str:
    """The image the Dockerfile's FROM line names."""
    found = re.search(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    if not found:
        raise ContainerError(f"{DOCKERFILE}: no FROM line")
    return found.group(1)


def run(argv: list[str], what: str, **kwargs: object) -> str:
    """Run a command; its failure becomes a ContainerError naming what we were doing."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ContainerError(f"{what} failed (exit {done.returncode}): {' / '.join(detail)}")
    return str(done.stdout)


def unavailable() -> str | None:
    """Why `make test-container` cannot run here (one line), or None."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs Linux and root (podman, debootstrap): run make test-container as root"
    for tool in ("podman", "runc", "debootstrap"):
        if not shutil.which(tool):
            return f"{tool} is not installed (apt install podman runc debootstrap)"
    return None


def mirror(apt: Path = APT_SOURCES) -> str:
    """The Debian mirror this machine's apt uses (deb822 .sources or one-line sources.list).

    Never a mirror of our own choosing: a machine that reaches Debian through a mirror or a
    proxy of its own says so in its apt sources, and only there.
    """
    files = [p for p in apt.glob("sources.list*") if p.is_file()]
    files += sorted(p for p in (apt / "sources.list.d").glob("*") if p.is_file())
    for file in files:
        text = file.read_text()
        for url in re.findall(r"(?:URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text, re.MULTILINE):
            if url.rstrip("/").endswith("/debian"):
                return url.rstrip("/")
    raise ContainerError(f"no Debian mirror in {apt}/sources.list*: debootstrap needs one")


def ensure_base(echo: bool = True) -> float:
    """Make the FROM image with debootstrap unless podman has it; the seconds it took."""
    name = base_image()
    if subprocess.run(["podman", "image", "exists", name]).returncode == 0:
        return 0.0
    started = time.monotonic()
    url = mirror()
    if echo:
        print(f"container: making {name} with debootstrap --variant=minbase {SUITE} {url}")
    with tempfile.TemporaryDirectory(prefix="incoming-base-") as tmp:
        root = Path(tmp) / "root"
        run(["debootstrap", "--variant=minbase", SUITE, str(root), url], "debootstrap")
        # What Debian's own slim image has: the three suites, and no apt lists or caches.
        (root / "etc/apt/sources.list").unlink(missing_ok=True)
        (root / "etc/apt/sources.list.d/debian.sources").write_text(
            f"Types: deb\nURIs: {url}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
            f"Types: deb\nURIs: {url}-security\nSuites: {SUITE}-security\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
        for junk in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for path in (root / junk).glob("*"):
                if path.is_file():
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        run(
            ["podman", "import", "--change", 'CMD ["bash"]', "-", name],
            "podman import",
            stdin=tar.stdout,
        )
        tar.wait()
    return time.monotonic() - started


def build(podman_here: bool, echo: bool = True) -> float:
    """Build the Dockerfile into IMAGE; the seconds it took."""
    tool = "podman" if podman_here else engine()
    argv = [tool, "build", "-t", IMAGE, "-f", str(DOCKERFILE)]
    if podman_here:
        argv += ["--pull=never", *PODMAN_RUN, *host_trust(build=True)]
    elif is_podman(tool):
        argv += LIMITS
    started = time.monotonic()
    if echo:
        print("container:", shlex.join([*argv, str(ROOT)]), flush=True)
        subprocess.run([*argv, str(ROOT)], check=True)
    else:
        run([*argv, str(ROOT)], "podman build")
    return time.monotonic() - started


def image_size() -> int:
    """IMAGE's size in bytes, as podman reports it."""
    return int(run(["podman", "image", "inspect", "--format", "{{.Size}}", IMAGE], "inspect"))


def in_image(command: str, *extra: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run a shell command in a fresh container of IMAGE as its own (non-root) user."""
    argv = ["podman", "run", "--rm", *PODMAN_RUN, *host_trust(build=False), *extra, IMAGE]
    argv += ["bash", "-c", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def cmd_build(if_possible: bool) -> int:
    if if_possible:
        if reason := unavailable():
            print(f"container: not built: {reason}", file=sys.stderr)
            return 0
        seconds = ensure_base()
        if seconds:
            print(f"container: {base_image()} made in {seconds:.0f} s")
        seconds = build(podman_here=True)
    else:
        tool = engine()
        seconds = build(podman_here=False)
        del tool
    print(f"container: {IMAGE} built in {seconds:.0f} s")
    return 0


def cmd_run() -> int:
    tool = engine()
    port = os.environ.get("NB_PORT") or "8888"
    token = secrets.token_hex(16)
    print(f"JupyterLab in the container: http://127.0.0.1:{port}/lab?token={token}", flush=True)
    terminal = ["-it"] if sys.stdin.isatty() else []  # Ctrl-C reaches JupyterLab
    argv = [tool, "run", "--rm", *terminal, *(LIMITS if is_podman(tool) else [])]
    argv += ["-p", f"127.0.0.1:{port}:8888"]
    argv += ["-e", f"JUPYTER_TOKEN={token}", IMAGE]
    os.execvp(tool, argv)
    return 1  # not reached


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tools.container")
    parser.add_argument("action", choices=["build", "run"])
    parser.add_argument("--if-possible", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.action == "build":
            return cmd_build(args.if_possible)
        return cmd_run()
    except ContainerError as error:
        print(f"container: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        print(f"container: {shlex.join(map(str, error.cmd))} exited {error.returncode}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
