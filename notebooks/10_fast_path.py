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
# # 10. One wakeup, many datagrams: the server's fast path
#
# The talk's history is a story about speed: kdbus, AF_BUS, "sd-bus 3.6× faster than
# libdbus". Our own server pays, for every single datagram, a trip through the event
# loop (`epoll_wait`, `add_reader` and `remove_reader`: two `epoll_ctl`), a flushed
# `print`, and a `bus.process()` after its signals. Step 10 pays those once per *batch*:
# a readable socket is drained until the kernel says `EAGAIN`, at most `BATCH`
# datagrams per wakeup so that one flooded socket cannot starve the others.

# %%
import json
import subprocess
import sys

import talk

talk.intro(10)

# %% [markdown]
# ## 1. The change
#
# In `receive()`: a loop of `recvmsg(..., MSG_DONTWAIT)` until `BlockingIOError` (that is
# `EAGAIN`: nothing left) or `BATCH` datagrams, the lines collected and written at once.

# %%
talk.diff(10)

# %% [markdown]
# The bus is flushed once per batch too. `publish()` used to call `bus.process()` after
# each emit, because python-sdbus 0.14 only learns that the bus socket was full (and
# watches for "writable") inside `process()`: without it, what the socket cannot take (a
# stalled daemon: thousands of signals in) stays in sd-bus's queue. Signals up to that
# point leave at once, flush or not. Now `publish(..., flush=False)` for each datagram, and one
# `flush_bus()` per batch. The D-Bus API itself does not change.

# %%
talk.diff(10, "interface.py")

# %% [markdown]
# ## 2. Run it: a burst
#
# The server on `load` and `sine`, and 200 lines through the step's own `sender.py`
# into `load`, as fast as the socket takes them.

# %% tags=["burst"]
bus = talk.bus()
receiver = talk.start("receiver", 10, "load", "sine")
receiver.wait_for("on the bus as org.example.Incoming")
talk.sender(10, "load", [f"reading {n}" for n in range(200)])
receiver.wait_for("load: reading 199")
lines = [line for line in receiver.lines() if ": reading " in line]
print(f"load: {len(lines)} lines, the last: {lines[-1].split(': ', 1)[1]}")

# %% [markdown]
# ## 3. Seen from the kernel: `make strace-10`
#
# The strace demo sends three datagrams per socket one at a time, then eight more per
# socket while the server is stopped (SIGSTOP), so that they all wait for it when it goes
# on. Step 09 takes them one per wakeup; step 10 drains each socket in one.

# %% tags=["strace"]
for n in (9, 10):
    demo = subprocess.run(
        [sys.executable, "-m", "tools.strace_demo", str(n)],
        cwd=talk.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = demo.stdout.splitlines()
    at = next(i for i, line in enumerate(out) if line.startswith("summary:"))
    wrapped = [out[at]]
    while at + len(wrapped) < len(out) and out[at + len(wrapped)].startswith("    "):
        wrapped.append(out[at + len(wrapped)].strip())  # the summary, wrapped at 100 columns
    print(" ".join(wrapped))
    print(*[line.strip() for line in out if "recvmsg per socket per wakeup" in line])

# %% [markdown]
# ## 4. Where a message's time goes: `make bench`
#
# `make bench` runs the pipeline (datagram → server → `Message` → client) for step 06 and
# step 10 in turns, beside sdbus's own signal ceiling (an sdbus server emitting flat out
# to an sdbus client), and breaks a message down in the server: system calls by kind
# (`strace -c`), CPU per message in the server, dbus-daemon and the client, wakeups per
# message. Your machine's figures once you ran it (here: the last `make bench`, or the
# figures committed in `docs/`):

# %% tags=["figures"]
results = talk.ROOT / "build" / "bench" / "bench.json"
if results.exists():
    for figure in json.loads(results.read_text())["figures"]:
        if figure["section"] == "pipeline" or figure["name"].endswith("/syscalls"):
            versus = f"  ×{figure['ratio']:.2f} {figure['baseline']}" if figure["ratio"] else ""
            print(f"{figure['name']:<28} {figure['median']:>10,.1f} {figure['unit']}{versus}")
else:
    print("no build/bench/bench.json yet: `make bench` measures this machine")
chart = talk.ROOT / "build" / "bench" / "breakdown.png"
talk.show_image(chart if chart.exists() else talk.ROOT / "docs" / "bench-breakdown.png")

# %% [markdown]
# What the breakdown says: step 06 spends about eleven system calls per datagram, step 10
# about three (the `recvmsg` that gets it, and one `sendmsg` per signal: `Message` and
# `MessageFrom`); everything else happens once per batch. What is left is Python and
# sd-bus building two signals per datagram, and dbus-daemon routing them.

# %% tags=["stopped"]
talk.stop()
print("still running:", talk.running())

# %% [markdown]
# ## Exercise: step 10 from step 09
#
# Your copy of **step 09** is in `my_steps/10_fast_path/`. Drain the socket in
# `receive()` (at most `BATCH` per wakeup), write the batch's lines at once, and flush the
# bus once per batch (`interface.py`: `publish(..., flush=False)` and a `flush_bus()`).
# The graders of `make check-10` watch your server with strace while a burst waits for it,
# and flood one socket to see that the other one is still heard.

# %%
exercise = talk.exercise(10)

# %% tags=["check"]
exercise.check()
