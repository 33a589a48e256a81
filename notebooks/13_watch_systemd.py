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
# # 13. The client watches systemd
#
# systemd is a D-Bus service too: `org.freedesktop.systemd1`, one object per unit, with the
# unit's state as properties and `PropertiesChanged` when it changes. The client already
# holds a connection to the bus the server is on (local, or over ssh): on that same
# connection it reads `incoming.service`'s `ActiveState`, `SubState`, `StatusText` (the
# server's `STATUS=` line of step 12) and `NRestarts`, shows them in the plot's title, and
# marks every moment the service stopped with a red line on each chart.

# %%
import talk
from tools.board.build import CACHE
from tools.board.machine import Board

talk.intro(13)

# %% [markdown]
# ## 1. systemd on the bus
#
# A proxy needs only the members it uses: the manager's `LoadUnit` and `Subscribe`, and
# four properties of the unit's object (a `Unit` and a `Service` at once).

# %%
talk.show(13, "systemd.py", "Manager", "Unit", "Service", "ServiceUnit")

# %% [markdown]
# The client's change: one more task, on the same bus connection.

# %%
talk.diff(13, "client.py")

# %% [markdown]
# ## 2. Without systemd on the bus
#
# The private session bus of these notebooks has no systemd on it: one line says so, and
# the client plots as before.

# %% tags=["session"]
talk.bus()
talk.start("receiver", 13, "load", "--gpio", "none:0")
talk.feeder("load", rate=10)
talk.run(13, "client.py", "--save", str(talk.RUNTIME / "plot.png"), "--seconds", "2")
talk.stop()

# %% [markdown]
# ## 3. On a real systemd: `make board`
#
# `make board` boots a small Debian with systemd as PID 1 and this step's service, and
# prints the `--host` to plot it with. Its systemd, seen over the board's ssh:
# `busctl tree org.freedesktop.systemd1` lists every unit's object.

# %% tags=["board"]
board = Board.load(CACHE / "make")
if board is None:
    print("no board running here: `make board` (root, Debian) starts one")
else:
    tree = board.run("busctl tree --list org.freedesktop.systemd1", check=False).stdout
    print("\n".join(line for line in tree.splitlines() if "incoming" in line))

# %% [markdown]
# Then, in a terminal, with the `--host` that `make board` printed:
#
#     cd steps/13_watch_systemd && python3 client.py --host viewer@127.0.0.1:PORT
#     make board-ssh CMD='kill -STOP $(systemctl show -P MainPID incoming)'
#
# The title says `active (running), restarts: 0, 3 sources, 12.0 messages/s`; ten seconds
# after the `SIGSTOP`, the watchdog kills the server: a red line on every chart, the title
# goes through `activating (auto-restart)` and back to `active (running), restarts: 1`.
# `make board-ssh CMD='systemctl restart incoming'` draws one more.
