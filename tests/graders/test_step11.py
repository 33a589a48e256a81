"""Grader for step 11: a system service on the system bus, plotted from elsewhere over ssh.

Without root: the server and the client on a bus given as the *system* bus
(--bus system, --system), the methods flagged unprivileged, the unit, the
sysusers file. With root (tools/system_bus.py): a private system-like bus that
denies by default and includes the step's policy, the service's user made from
the step's sysusers file, and a real sshd whose key forces systemd-stdio-bridge
onto that bus. Nothing here touches the machine's own bus, users or ssh setup.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.graders.common import *  # noqa: F403
from tests.helpers import Program, python, send
from tools import bus, other_users, system_bus

STEP = 11
NAME = "org.example.Incoming"
PATH = "/org/example/Incoming"
METHODS = ("GetIncoming", "Recent", "RecentFd")
STARTUP = 60  # s: a client importing matplotlib, ssh logging in, on a loaded machine


@pytest.fixture
def system_env(step_env: dict[str, str]) -> dict[str, str]:
    """The private bus of step_env given as the system bus, and no session bus at all."""
    env = {key: value for key, value in step_env.items() if key not in ("DISPLAY", bus.ENV_VAR)}
    return {**env, "DBUS_SYSTEM_BUS_ADDRESS": step_env[bus.ENV_VAR]}


def on_system_bus(step: Path, env: dict[str, str], programs: list[Program], *args: str) -> Program:
    server = python(step / "receiver.py", "--bus", "system", *args, env=env)
    programs.append(server)
    server.expect(rf"^on the bus as {re.escape(NAME)}$", timeout=STARTUP)
    return server


@pytest.mark.idea
def test_unit_verifies_and_is_sandboxed(step: Path) -> None:
    unit = step / "incoming.service"
    assert unit.exists(), "no incoming.service in the step"
    text = unit.read_text()
    for setting in ("Type=dbus", f"BusName={NAME}", "User=incoming", "RuntimeDirectory="):
        assert re.search(rf"^{re.escape(setting)}", text, re.M), f"the unit has no {setting}"
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze here to verify the unit")
    units = ("/usr/lib/systemd/system", "/lib/systemd/system")
    if not any(Path(folder, "dbus.socket").exists() for folder in units):
        pytest.skip("no dbus.socket here (the system bus's unit: Debian's dbus-system-bus-common);"
                    " a Type=dbus unit cannot be verified without it")  # fmt: skip
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", unit], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", unit],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    if level is None:
        pytest.skip(f"no offline security analysis here: {security.stderr.strip()}")
    assert float(level.group(1)) <= 2.0, f"why: {exposure(security.stdout, level.group(1))}"


def exposure(table: str, level: str) -> str:
    """systemd-analyze security's table in one line: the score and the worst settings."""
    failing = re.findall(r"^✗ (\S+)\s.*?\s([\d.]+)$", table, re.M)
    worst = sorted(failing, key=lambda row: -float(row[1]))[:5]
    settings = ", ".join(f"{name} ({weight})" for name, weight in worst)
    return (
        f"the unit's exposure is {level} (at most 2.0 passes); the worst unset settings:"
        f" {settings}: see `systemd-analyze security incoming.service`"
    )


@pytest.mark.idea
def test_sysusers_makes_the_service_user(step: Path, tmp_path: Path) -> None:
    if shutil.which("systemd-sysusers") is None:
        pytest.skip("no systemd-sysusers here")
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", step / "incoming.sysusers"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text()
    user = re.search(r"^incoming:x:(\d+):(\d+):[^:\n]*:([^:\n]*):([^:\n]*)$", passwd, re.M)
    assert user, passwd
    assert int(user.group(1)) < 1000, "not a system user"
    assert user.group(4).endswith("nologin"), "the service's user can log in"


def allows_call(allow: ET.Element, interface: str, member: str) -> bool:
    """Does this <allow> let a method call interface.member reach the service?

    A rule names the destination and narrows it by interface, member or both: one rule
    per member, or one for the whole interface (send_interface= alone), are both right.
    """
    if allow.get("send_destination") != NAME:
        return False
    return allow.get("send_interface", interface) == interface and (
        allow.get("send_member", member) == member
    )


@pytest.mark.idea
def test_policy_allows_the_methods_and_owning_only_to_the_service(step: Path) -> None:
    policies = ET.parse(step / "org.example.Incoming.conf").getroot().findall("policy")
    owners = [
        (policy.get("user"), policy.get("context"))
        for policy in policies
        for allow in policy.findall("allow")
        if allow.get("own") == NAME
    ]
    assert owners == [("incoming", None)], (
        f'why: only the service\'s user may own {NAME}: one <policy user="incoming"> with'
        f' <allow own="{NAME}"/>, found in {owners or "no policy"}'
    )
    rules = [
        allow
        for policy in policies
        if policy.get("context") == "default"
        for allow in policy.findall("allow")
    ]
    wanted = [(NAME, method) for method in METHODS]
    wanted.append(("org.freedesktop.DBus.Introspectable", "Introspect"))
    for interface, member in wanted:
        assert any(allows_call(allow, interface, member) for allow in rules), (
            f"why: the policy lets nobody call {interface}.{member}: add to"
            f' <policy context="default"> <allow send_destination="{NAME}"'
            f' send_interface="{interface}" send_member="{member}"/> (or the interface alone)'
        )
    for allow in rules:
        if allow.get("send_destination") == NAME and not {"send_interface", "send_member"} & set(
            allow.keys()
        ):
            raise AssertionError(
                f"why: the rule {ET.tostring(allow, encoding='unicode').strip()} lets anyone call"
                " any method of the service (Properties, Peer, ...): name the interface"
            )


@pytest.mark.idea
def test_server_and_client_meet_on_the_system_bus(
    step: Path, system_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    path = tmp_path / "load"
    on_system_bus(step, system_env, programs, str(path), "--gpio", "none:0")
    plot = python(step / "client.py", "--system", "--save", tmp_path / "p.png", env=system_env)
    programs.append(plot)
    plot.expect(rf"^one chart each for: {path}$", timeout=STARTUP)
    send(path, b"0.25")
    plot.expect(rf"^{path}: 0\.25  \(from pid \d+")


@pytest.mark.idea
def test_methods_are_flagged_unprivileged(
    step: Path, system_env: dict[str, str], tmp_path: Path, programs: list[Program]
) -> None:
    on_system_bus(step, system_env, programs, str(tmp_path / "load"), "--gpio", "none:0")
    xml = subprocess.run(
        ["busctl", "--system", "introspect", "--xml-interface", NAME, PATH],
        env=system_env, capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    interface = ET.fromstring(xml).find(f"interface[@name='{NAME}']")
    assert interface is not None, xml
    for method in METHODS:
        element = interface.find(f"method[@name='{method}']")
        assert element is not None, f"no method {method}"
        privileged = element.find("annotation[@name='org.freedesktop.systemd1.Privileged']")
        assert privileged is None, (
            f"why: {method} is not flagged unprivileged: on a system bus, sd-bus refuses it to"
            " every other user (flags=DbusUnprivilegedFlag)"
        )


# --- a private system-like bus with the step's policy, its users, and ssh (root) ---


def reachable() -> None:
    """Skip, saying why, unless other users can run a Python with our packages. (The step
    itself is staged where they can read it: a private steps folder is no reason.)"""
    try:
        _, env = system_bus.python_for_everyone()
    except system_bus.Unavailable as why:
        pytest.skip(f"no Python the service's user can run: {why}")
    packages = Path(env["PYTHONPATH"])
    if not other_users.searchable(packages):
        pytest.skip(f"the service's user cannot reach {packages} (sdbus and the rest)")


@pytest.fixture
def system(step: Path) -> Iterator[system_bus.SystemBus]:
    reachable()
    try:
        with system_bus.start(step) as private:
            yield private
    except system_bus.Unavailable as why:
        pytest.skip(f"no private system bus here: {why}")


def staged(system: system_bus.SystemBus, step: Path, name: str = "step") -> Path:
    """The step copied where every user can read it (the steps folder may be private: 0700)."""
    copy = system.folder / name
    if not copy.exists():
        shutil.copytree(step, copy, ignore=shutil.ignore_patterns("__pycache__"))
        for folder, _, files in os.walk(copy):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(Path(folder, name), 0o644)
    return copy


def as_user(
    system: system_bus.SystemBus,
    user: str,
    script: Path,
    *args: str | os.PathLike[str],
    programs: list[Program],
) -> Program:
    prefix, env = system.python_as(user)
    program = Program([*prefix, script.name, *args], cwd=script.parent, env=env)
    programs.append(program)
    return program


def service(system: system_bus.SystemBus, step: Path, programs: list[Program]) -> Program:
    """The server as the service's user, its socket in a folder of that user's."""
    load = system.folder_for(system_bus.SERVICE_USER) / "load"
    server = as_user(
        system, system_bus.SERVICE_USER, staged(system, step) / "receiver.py", "--bus", "system",
        load, "--gpio", "none:0", programs=programs,
    )  # fmt: skip
    server.expect(rf"^on the bus as {re.escape(NAME)}$", timeout=STARTUP)
    return server


def call(system: system_bus.SystemBus, user: str, member: str) -> subprocess.CompletedProcess:
    """dbus-send as user (or root): the reply, or the error on stderr."""
    interface = "org.freedesktop.DBus.Peer" if member == "Ping" else NAME
    return subprocess.run(
        [
            *([] if user == "root" else system.as_user(user)),
            "dbus-send", "--system", "--print-reply", f"--dest={NAME}",
            PATH, f"{interface}.{member}",
        ],
        env=system.env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.idea
def test_the_policy_on_a_system_like_bus(
    system: system_bus.SystemBus, step: Path, programs: list[Program]
) -> None:
    server = service(system, step, programs)  # the service's user owns the name
    other = as_user(
        system, system_bus.VIEWER, staged(system, step) / "receiver.py", "--bus", "system",
        system.folder_for(system_bus.VIEWER) / "load", "--gpio", "none:0", programs=programs,
    )  # fmt: skip
    assert other.wait() != 0, (
        f'why: the policy let {system_bus.VIEWER} own {NAME}: only <policy user="incoming">'
        f' may <allow own="{NAME}"/>'
    )
    said = [line for line in other.stderr if not line.startswith("gpio: ")]  # no GPIO: fine
    assert len(said) == 1 and "policy" in said[0], (
        f"why: refused the name, the receiver should say so in one line naming the policy: {said}"
    )
    assert "incoming" in said[0], "why: the refusal does not name the rule's user (incoming)"
    answer = call(system, system_bus.VIEWER, "GetIncoming")
    assert answer.returncode == 0 and "/load" in answer.stdout, (
        f"why: the policy refused GetIncoming to another user: {answer.stderr.strip()}"
    )
    refused = call(system, system_bus.VIEWER, "Ping")
    assert refused.returncode != 0, (
        "why: the policy let another user call org.freedesktop.DBus.Peer.Ping: allow only"
        f" the interfaces the service offers (send_interface={NAME})"
    )
    assert "AccessDenied" in refused.stderr and "Rejected send message" in refused.stderr, (
        refused.stderr
    )
    monitor = Program(
        [*system.as_user(system_bus.VIEWER), "gdbus", "monitor", "--system", "--dest", NAME],
        env=system.env,
    )
    programs.append(monitor)
    monitor.expect(r"^The name org\.example\.Incoming is owned by", timeout=STARTUP)
    load = system.folder_for(system_bus.SERVICE_USER) / "load"
    message = r"org\.example\.Incoming\.Message \('[^']*/load', uint64 \d+, 'hello \d+'\)"
    for n in range(20):  # until gdbus's match rule is in place: it prints no line for that
        send(load, f"hello {n}".encode())
        server.expect(rf": hello {n}$")
        try:
            monitor.expect(message, timeout=1)
            return
        except AssertionError:
            continue
    raise AssertionError(f"no Message signal reached another user: {monitor.stdout[-5:]}")


@pytest.fixture
def sshd(system: system_bus.SystemBus) -> Iterator[system_bus.Sshd]:
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.skip("no sshd here (openssh-server)")
    with system.sshd() as running:
        yield running


@pytest.mark.idea
def test_remote_plot_over_ssh_through_a_restart(
    system: system_bus.SystemBus,
    sshd: system_bus.Sshd,
    step: Path,
    tmp_path: Path,
    programs: list[Program],
) -> None:
    first = service(system, step, programs)
    load = system.folder_for(system_bus.SERVICE_USER) / "load"
    picture = tmp_path / "remote.png"
    plot = Program(
        [sys.executable, "client.py", "--host", sshd.host(), "--save", picture, "--seconds", "600"],
        cwd=step, env=sshd.client_env("bridge", system.env),
    )  # fmt: skip
    programs.append(plot)
    plot.expect(rf"^one chart each for: {load}$", timeout=STARTUP)
    send(load, b"0.5")
    plot.expect(rf"^{load}: 0\.5  \(from pid \d+, uid 0, gid 0;")
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    plot.expect(r"is gone; waiting for it to come back$")
    service(system, step, programs)
    plot.expect(rf"^one chart each for: {load}$", timeout=STARTUP)
    for n in range(10):
        send(load, f"{n / 10}".encode())
    plot.expect(rf"^{load}: 0\.9  ")
    plot.signal(signal.SIGINT)  # seen through the restart: done (step 08 grades the pictures)
    assert plot.wait() == 0, f"why: the remote client did not stop cleanly on Ctrl-C: {plot.stderr}"


@pytest.mark.parametrize(
    ("key", "host", "why"),
    [
        ("stranger", "", r"refused our key"),
        ("nobridge", "", r"no systemd-stdio-bridge there"),
        ("bridge", "nosuchhost.invalid", r"unknown host"),
        ("bridge", "closed", r"no ssh server there"),
        ("bridge", "new", r"ssh does not know this host's key"),
    ],
)
def test_ssh_failures_are_one_line(
    sshd: system_bus.Sshd, system: system_bus.SystemBus, step: Path, key: str, host: str, why: str
) -> None:
    if host == "closed":
        host = f"127.0.0.1:{system_bus.free_port()}"
    env = sshd.client_env(key, system.env, known=host != "new")
    plot = python(
        step / "client.py", "--host", sshd.host() if host in ("", "new") else host,
        "--save", "x.png", env=env,
    )  # fmt: skip
    assert plot.wait(timeout=STARTUP) != 0
    assert len(plot.stderr) == 1, plot.stderr
    assert re.search(why, plot.stderr[0]), plot.stderr
    assert plot.stderr[0].startswith("--host "), plot.stderr


def test_service_not_running_there_is_said_and_waited_for(
    sshd: system_bus.Sshd, system: system_bus.SystemBus, step: Path, tmp_path: Path
) -> None:
    plot = python(
        step / "client.py", "--host", sshd.host(), "--save", tmp_path / "x.png", "--seconds", "2",
        env=sshd.client_env("bridge", system.env),
    )  # fmt: skip
    waiting = r"^waiting for org\.example\.Incoming to appear on .*\(is incoming\.service "
    plot.expect(waiting, timeout=STARTUP)
    assert plot.wait() != 0
    assert len(plot.stderr) == 1 and "never appeared" in plot.stderr[0], plot.stderr


def test_the_server_refuses_a_method_not_flagged_unprivileged(
    system: system_bus.SystemBus, step: Path, programs: list[Program]
) -> None:
    """The pitfall, shown: the same server with the flags removed answers root only."""
    copy = staged(system, step, "unflagged")  # where the service's user can read it
    interface = copy / "interface.py"
    interface.write_text(interface.read_text().replace(", flags=DbusUnprivilegedFlag", ""))
    service(system, copy, programs)
    assert call(system, "root", "GetIncoming").returncode == 0
    refused = call(system, system_bus.VIEWER, "GetIncoming")
    assert refused.returncode != 0 and "not permitted" in refused.stderr, refused.stderr


def test_client_names_the_rule_when_the_policy_refuses(
    step: Path, tmp_path: Path, programs: list[Program]
) -> None:
    """A policy that lets the service own its name but allows no calls (an old one, say)."""
    policy = tmp_path / "owner-only.conf"
    text = (step / "org.example.Incoming.conf").read_text()
    policy.write_text(re.sub(r'<policy context="default">.*?</policy>', "", text, flags=re.S))
    policy.chmod(0o644)
    reachable()
    try:
        with system_bus.start(step, policy=policy) as system:
            service(system, step, programs)
            plot = as_user(
                system, system_bus.VIEWER, staged(system, step) / "client.py", "--system", "--save",
                system.folder / "x.png", programs=programs,
            )  # fmt: skip
            assert plot.wait(timeout=STARTUP) != 0
    except system_bus.Unavailable as why:
        pytest.skip(f"no private system bus here: {why}")
    said = [line for line in plot.stderr if "Matplotlib" not in line]
    assert len(said) == 1, plot.stderr
    assert "policy" in said[0] and '<deny send_type="method_call"/>' in said[0], said


def children(pid: int) -> list[int]:
    """The pids of a process's children (Linux: /proc/PID/task/*/children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_a_dropped_ssh_connection_is_one_line(
    system: system_bus.SystemBus, sshd: system_bus.Sshd, step: Path, programs: list[Program]
) -> None:
    service(system, step, programs)
    plot = python(
        step / "client.py", "--host", sshd.host(), "--save", system.folder / "x.png",
        "--seconds", "300", env=sshd.client_env("bridge", system.env),
    )  # fmt: skip
    programs.append(plot)
    plot.expect(r"^one chart each for: ", timeout=STARTUP)
    [ssh] = [pid for pid in children(plot.pid) if Path(f"/proc/{pid}/comm").read_text() == "ssh\n"]
    os.kill(ssh, signal.SIGTERM)  # the ssh that sd-bus started for the client: the line drops
    assert plot.wait(timeout=STARTUP) == 1
    assert len(plot.stderr) == 1, plot.stderr
    assert re.search(r"^lost --host .*: the connection over ssh ended", plot.stderr[0]), plot.stderr
