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
# # 12. systemd watches the loop
#
# A service under systemd can tell it how it is doing, and systemd listens: that is the
# notify protocol, and it is nothing but step 01's datagram. systemd hands the service an
# AF_UNIX datagram socket's address in `$NOTIFY_SOCKET`; the service sends it lines like
# `READY=1`, `STATUS=...`, `WATCHDOG=1`. With `WatchdogSec=` in the unit, a service that
# stops saying `WATCHDOG=1` is killed and restarted. Sent from a task on the event loop,
# the pings stop exactly when the loop is blocked: the watchdog guards the event loop.

# %%
import os
import signal
from pathlib import Path

import talk
from tools.notify_listen import Listener

talk.intro(12)

# %% [markdown]
# ## 1. The notify protocol is step 01's datagram
#
# One socket, one `sendto()`, no library (`@` in the address means the abstract
# namespace). And the watchdog's period: half of `$WATCHDOG_USEC`, and only when
# `$WATCHDOG_PID` is unset or ours.

# %%
talk.show(12, "notify.py", "send", "watchdog_seconds")

# %% [markdown]
# The receiver's change: `READY=1` once it owns its name, then a task that pings.

# %%
talk.diff(12)

# %% [markdown]
# ## 2. systemd's side, played by a socket of ours
#
# No systemd needed to see it: a socket of our own as `$NOTIFY_SOCKET` (what
# `tools/notify_listen.py` and `make watchdog-demo` do), `WATCHDOG_USEC` of one second,
# and the step's server started with both in its environment.

# %% tags=["notify"]
talk.bus()
listener = Listener(Path(talk.RUNTIME))
os.environ.update(listener.env(watchdog_usec=1_000_000))  # what systemd would set
try:
    server = talk.start("receiver", 12, "load", "--gpio", "none:0")
finally:
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
        os.environ.pop(key)
talk.feeder("load", rate=10)
for _ in range(4):
    got = listener.receive(timeout=10)
    print(" | ".join(got[1]) if got else "nothing in 10 s")

# %% [markdown]
# ## 3. The watchdog guards the event loop
#
# Stop the server (`SIGSTOP`: as stuck as a loop can be) and listen: no `WATCHDOG=1` for
# longer than `WatchdogSec=`, and systemd would kill it now. A ping from a thread would
# have gone on for a loop blocked by a `time.sleep()` in a coroutine; the task cannot.

# %% tags=["stopped"]
os.kill(server.pid, signal.SIGSTOP)
while listener.receive(timeout=0):  # what it sent before it stopped
    pass
got = listener.receive(timeout=2)
print("while stopped:", " | ".join(got[1]) if got else "no WATCHDOG=1 for 2 s: systemd kills it")
os.kill(server.pid, signal.SIGCONT)
got = listener.receive(timeout=10)
print("running again:", " | ".join(got[1]) if got else "nothing")
talk.stop()
listener.close()

# %% [markdown]
# ## 4. On a real systemd
#
# `make board` boots a small Debian with systemd as PID 1 (systemd-nspawn) and this
# step's service installed by `make install-service`. There:
#
#     make board-ssh CMD='systemctl status incoming'          # Status: "3 sources, 12.0 messages/s"
#     make board-ssh CMD='kill -STOP $(systemctl show -P MainPID incoming)'
#     make board-ssh CMD='journalctl -u incoming -n 5'        # Watchdog timeout (limit 10s)!
#
# ten seconds later the journal says "Watchdog timeout", systemd kills it and
# `Restart=on-failure` starts it again: `NRestarts` goes up. Step 13 watches that
# from the client.
