"""A lost bus: the real dbus-daemon killed under a server, or under a client (steps 06-11).

The server notices at once, even when idle, prints what it had read, says in one line
that the bus went away, removes its socket files and exits non-zero (so systemd's
Restart=on-failure brings step 11's service back). A client says in one line that the
bus is gone and exits non-zero; with --save it still writes the picture it has.
"""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import Program, send, wait_until
from tools import bus, table

SERVER_STEPS = [6, 7, 8, 9, 10, 11]
CLIENT_STEPS = [7, 8, 9, 10, 11]
NOTICED_WITHIN = 5.0  # seconds; the hang-up wakes the loop at once


def step(n: int) -> Path:
    return table.get(n).folder(table.ROOT / "steps")


def start_server(n: int, private: bus.Bus, folder: Path, programs: list[Program]) -> Program:
    server = Program(
        [sys.executable, "receiver.py", folder / "load", "--gpio", "none:0"],
        cwd=step(n), env=private.env,
    )  # fmt: skip
    programs.append(server)
    server.expect(r"^on the bus as org\.example\.Incoming$", timeout=60)
    return server


def kill_bus(private: bus.Bus) -> None:
    assert private.process is not None
    private.process.kill()
    private.process.wait()


def one_line_about_the_bus(program: Program) -> None:
    assert "Traceback" not in "\n".join(program.stderr), program.stderr
    said = [line for line in program.stderr if line.strip() and not line.startswith("gpio:")]
    assert len(said) == 1 and re.search(r"bus went away", said[0]), program.stderr


@pytest.mark.parametrize("n", SERVER_STEPS)
def test_an_idle_server_notices_the_lost_bus_and_cleans_up(
    n: int, tmp_path: Path, programs: list[Program]
) -> None:
    with bus.private_bus(tmp_path / "bus") as private:
        server = start_server(n, private, tmp_path, programs)
        kill_bus(private)  # idle: nothing arrives that would make it use the bus
        start = time.monotonic()
        code = server.wait(timeout=NOTICED_WITHIN)
        print(f"step {n}: idle server exited {code} {time.monotonic() - start:.2f} s after")
    assert code not in (0, None), f"exit status {code}: systemd's Restart=on-failure needs != 0"
    one_line_about_the_bus(server)
    assert not (tmp_path / "load").exists(), "its socket file was left behind"


def stop(program: Program) -> None:
    """SIGSTOP, and wait until the kernel says it is stopped (state T in /proc/PID/stat)."""
    program.signal(signal.SIGSTOP)
    stat = Path(f"/proc/{program.pid}/stat")
    wait_until(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", "a stopped server")


@pytest.mark.parametrize("n", SERVER_STEPS)
def test_a_busy_server_prints_what_it_read_before_it_goes(
    n: int, tmp_path: Path, programs: list[Program]
) -> None:
    """Datagrams, then the bus's hang-up, wait for one wakeup (the server is stopped
    meanwhile): what it reads it prints, in order, though its signals cannot leave."""
    with bus.private_bus(tmp_path / "bus") as private:
        server = start_server(n, private, tmp_path, programs)
        stop(server)
        send(tmp_path / "load", *(b"after %d" % i for i in range(8)))  # 8: the queue holds 10
        kill_bus(private)
        server.signal(signal.SIGCONT)
        code = server.wait(timeout=NOTICED_WITHIN)
    assert code != 0
    one_line_about_the_bus(server)
    printed = [line for line in server.stdout if ": after " in line]
    assert printed == [f"{tmp_path / 'load'}: after {i}" for i in range(len(printed))], printed
    assert printed, f"the datagrams came first, yet none was printed: {server.stdout}"


@pytest.mark.parametrize("n", CLIENT_STEPS)
def test_a_client_says_the_bus_is_gone_and_exits(
    n: int, tmp_path: Path, programs: list[Program]
) -> None:
    picture = tmp_path / "plot.png"
    save = ["--save", str(picture), "--seconds", "60"] if n >= 8 else []
    with bus.private_bus(tmp_path / "bus") as private:
        server = start_server(n, private, tmp_path, programs)
        client = Program([sys.executable, "client.py", *save], cwd=step(n), env=private.env)
        programs.append(client)
        client.expect(r"the server listens on|one chart each for", timeout=60)
        send(tmp_path / "load", b"0.5", b"0.7")
        server.expect(r": 0\.7$")
        kill_bus(private)
        start = time.monotonic()
        code = client.wait(timeout=NOTICED_WITHIN)
        took = time.monotonic() - start
    print(f"step {n}: client exited {code} {took:.2f} s after the bus was killed")
    assert code != 0
    one_line_about_the_bus(client)
    if save:
        assert picture.stat().st_size > 0, "--save's picture was not written"


def test_the_unit_restarts_the_service_when_it_exits_non_zero() -> None:
    """What systemd needs to bring the service back: Restart= that covers a failure exit."""
    unit = (step(11) / "incoming.service").read_text()
    restart = re.findall(r"^Restart=(\S+)$", unit, re.M)
    assert restart and restart[-1] in ("on-failure", "always"), restart
    assert not re.search(r"^SuccessExitStatus=.*\b1\b", unit, re.M), "exit 1 counts as success"
    assert re.search(r"^MemoryMax=\d+[KMG]?$", unit, re.M), "no MemoryMax="
    assert re.search(r"^TasksMax=\d+$", unit, re.M), "no TasksMax="
