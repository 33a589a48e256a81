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
# # 7. The client: iterating over a signal
#
# The other end of the bus. A client asks the server for its sources (`GetIncoming()`),
# then a task iterates over the `Message` signal with `async for`: each iteration awaits
# the next signal, so the task sleeps until one arrives, and the loop runs everything
# else meanwhile. A second task watches the bus itself: the daemon announces with
# `NameOwnerChanged` whenever a name gets (or loses) an owner, so the client can start
# before the server and follow it through restarts.

# %%
import asyncio

import talk

talk.intro(7)

# %% [markdown]
# `print_messages()` is the whole client idea: `async for` over a signal of the proxy.
# The server's timestamp lets it print how long each message took to arrive.

# %%
talk.show(7, "client.py", "print_messages")

# %% [markdown]
# `main()` makes the proxy from the same `Incoming` class the server exports (step 06's
# `interface.py`, unchanged), starts both tasks, and keeps references to them.

# %%
talk.show(7, "client.py", "follow_server", "main")

# %% [markdown]
# ## Run it: the client first
#
# A private bus, and the client before there is a server: it says it waits.

# %%
bus = talk.bus()
client = talk.start("client", 7, program="client.py", ready="waiting for org.example.Incoming")

# %% [markdown]
# Now the server (step 07's `receiver.py`, unchanged since step 06). The client notices
# it appear, asks for its sources, and prints every message with its delay:

# %% tags=["arrived"]
receiver = talk.start("receiver", 7, "load", "sine")
feeder = talk.feeder("load", "sine")
client.wait_for("the server listens on: load, sine, simulated:0")
client.expect_each(r"^load: ", r"^sine: ", r"^simulated:0: ", count=2)
client.show()

# %% [markdown]
# ## The server restarts
#
# Stop the server: the client stays, and says so. Start it again: the client finds it
# again, without any reconnect logic of its own: the match rule for `Message` lives in
# the bus daemon, which delivers the new server's signals as it did the old one's.

# %% tags=["restart"]
receiver.stop()
client.wait_for("org.example.Incoming is gone; waiting for it to come back")
receiver = talk.start("receiver", 7, "load", "sine")
client.wait_for("the server listens on: load, sine, simulated:0")
client.expect_each(r"^load: ", r"^sine: ", count=2)
client.show()

# %% [markdown]
# ## The same coroutine, in this kernel
#
# The step's `print_messages()` is a coroutine: nothing stops us from running it as a
# task on the kernel's own loop, with a proxy of this kernel's connection. For two
# seconds, it prints here, right beside the client process above:

# %% tags=["in-kernel"]
step7 = talk.load(7, "client.py")
proxy = step7.Incoming.new_proxy(step7.NAME, step7.PATH)
task = asyncio.create_task(step7.print_messages(proxy))
await asyncio.sleep(2)  # the task prints while this cell waits
print("cancelled:", task.cancel())

# %% [markdown]
# ## One source only: a match rule on `arg0`
#
# `async for` over `proxy.message` subscribes to *every* `Message`: the daemon wakes this
# kernel for `sine` and the GPIO line as well, and a client that wants only `load` has to
# throw the rest away itself. The daemon can do that filtering instead, on a signal's
# arguments: the match rule `arg0='load'` (what `make monitor SOURCE=load` passes to
# `busctl monitor`). python-sdbus 0.14.3 cannot ask for it: a proxy's signal, and the
# bus's `match_signal_async()` under it, take a sender, a path, an interface and a member,
# nothing more. jeepney sends any match rule with the bus's own `AddMatch`; for two
# seconds, both side by side on this kernel's loop:

# %% tags=["arg0"]
import contextlib

from jeepney import MatchRule, message_bus
from jeepney.io.asyncio import Proxy, open_dbus_router

rule = MatchRule(type="signal", interface="org.example.Incoming", member="Message")
rule.add_arg_condition(0, "load")  # the daemon compares the first argument
print("match rule:", rule.serialise())


async def only(rule: MatchRule, seconds: float) -> list:
    """The bodies of the signals the daemon forwards for one match rule, for seconds."""
    bodies = []
    async with open_dbus_router(bus="SESSION") as router:
        await Proxy(message_bus, router).AddMatch(rule)
        with router.filter(rule, bufsize=10_000) as queue, contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    bodies.append((await queue.get()).body)
    return bodies


everything, load_only = await asyncio.gather(talk.for_seconds(2, proxy.message), only(rule, 2))
print("python-sdbus, async for proxy.message:")
talk.print_messages(everything, limit=3)
print("jeepney, AddMatch with arg0='load':")
talk.print_messages(load_only, limit=3)

# %% [markdown]
# The end: stop the client, the receiver, the feeder and the private bus.

# %% tags=["stopped"]
talk.stop()
print("still running:", talk.running())

# %% [markdown]
# ## Exercise: step 07's client
#
# Your copy of **step 06** (the server) is in `my_steps/07_dbus_client/`, with step 07's
# `client.py` whose `print_messages()` and `follow_server()` are empty. Fill them in: the
# graders of `make check-7` start your client before and after the server, restart the
# server, and count what your client prints.

# %%
exercise = talk.exercise(7)

# %% tags=["check"]
exercise.check()
