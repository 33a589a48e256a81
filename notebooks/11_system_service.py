# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: incoming (.venv)
#     language: python
#     name: incoming
# ---

# %% [markdown]
# # 11. A system service, plotted from another machine over ssh
#
# The last act is what every embedded user does next: the server runs on the board (the
# one with the GPIO line) as a *system* service, and the plot runs on the laptop. sd-bus
# brings its own remote transport: `sd_bus_open_system_remote("pi@board")` runs
# `ssh -xT pi@board systemd-stdio-bridge` and speaks D-Bus through it. It reaches only a
# system bus (there is no remote user bus), so that is where the server goes, with what a
# deployment needs around it: a unit, a user of its own, and the bus's policy.

# %%
import subprocess
import sys

import talk

talk.intro(11)

# %% [markdown]
# ## 1. The unit: Type=dbus, a user of its own, a sandbox
#
# `Type=dbus` with `BusName=`: systemd counts the service as started once it owns its
# name. `User=incoming` comes from a sysusers.d file; the sockets go to
# `RuntimeDirectory=` (`/run/incoming`). The rest takes away what it does not need.

# %%
print((talk.folder(11) / "incoming.service").read_text())
print((talk.folder(11) / "incoming.sysusers").read_text())

# %% [markdown]
# How exposed is it? `systemd-analyze security` scores a unit from 10 (UNSAFE) to 0,
# and `--offline=yes` reads the file, no running systemd needed.

# %% tags=["unit"]
unit = str(talk.folder(11) / "incoming.service")
for command in (["verify", unit], ["security", "--offline=yes", "--no-pager", unit]):
    result = subprocess.run(["systemd-analyze", *command], capture_output=True, text=True)
    lines = (result.stdout + result.stderr).strip().splitlines()
    print(f"systemd-analyze {command[0]}: exit status {result.returncode}")
    print("\n".join(line for line in lines if "✗" in line or "Overall" in line))

# %% [markdown]
# ## 2. The policy, and sd-bus's own check
#
# A system bus denies by default: nobody may own a name, nobody may call a method.
# The policy file allows exactly what the service needs: its user owns the name, anyone
# may introspect, call the three methods and receive the signals. Nothing else.

# %%
print((talk.folder(11) / "org.example.Incoming.conf").read_text())

# %% [markdown]
# And a pitfall the policy cannot fix: on a system bus, sd-bus itself refuses a method to
# a caller of another uid without `CAP_SYS_ADMIN`, unless the method is flagged
# unprivileged. "Access to org.example.Incoming.GetIncoming() not permitted", whatever
# the policy says. The step's change to the interface:

# %%
talk.diff(11, "interface.py")

# %% [markdown]
# ## 3. The remote plot
#
# The client's whole change: `--host` opens the other machine's system bus; everything
# after that is the client of step 09. ssh's complaints become one line each (`remote.py`).

# %%
talk.show(11, "remote.py", "Remote")

# %% [markdown]
# On this machine, with nothing of the machine's own: a private system-like bus that
# includes the policy, the service running as its own user `incoming` (made from the
# sysusers file), a real `sshd` on 127.0.0.1 whose key forces `systemd-stdio-bridge` onto
# that bus, and the client plotting through it with `--host incoming-viewer@127.0.0.1:PORT`
# (`make remote-demo` does the same from a shell). It needs root, for the users.

# %% tags=["remote"]
picture = talk.RUNTIME / "remote-plot.png"
run = subprocess.run(
    [sys.executable, "-m", "tools.system_bus", "--save", str(picture), "--seconds", "8"],
    cwd=talk.ROOT, capture_output=True, text=True, timeout=120,
)  # fmt: skip
said = (run.stdout + run.stderr).splitlines()
messages = [line for line in said if line.startswith(("load: ", "sine: ", "simulated:0: "))]
print("\n".join(line for line in said if line not in messages))
print(f"(and {len(messages)} messages the client printed, as in step 09)")
if run.returncode == 0 and picture.exists():
    talk.show_image(picture)

# %% [markdown]
# On a real board: `sudo make install-service` there (it prints every file it installs),
# `sudo systemctl enable --now incoming`, then on the laptop
# `python3 client.py --host pi@board`. A restart of the service on the board is a gap in
# the plot, not an error: the client follows `NameOwnerChanged` as in step 07.
