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
# # 6. The D-Bus server
#
# So far, only the receiver knows what arrives. Step 06 puts it on D-Bus, the message bus
# every Linux desktop and systemd itself use: it takes a well-known *name*
# (`org.example.Incoming`), exports an *object* with a *method* any program may call
# (`GetIncoming()`, the list of its sources), and emits a *signal*, `Message`, for every
# datagram and every GPIO edge, for whoever subscribed. The library is python-sdbus, the
# Python binding of systemd's own D-Bus implementation, sd-bus, with an asyncio API.

# %%
import talk

talk.intro(6)

# %% [markdown]
# ## The interface
#
# One class describes the interface: the server exports an instance, a client (chapter 7)
# gets a proxy of it. A method is an `async def` with its D-Bus signature (`as`: an array
# of strings); a signal has only a signature (`sts`: source, timestamp in ns, text).

# %%
talk.show(6, "interface.py", "NAME", "PATH", "Incoming")

# %% [markdown]
# Emitting is one call. The second line is a lesson the step learned the hard way:
# `publish()`'s docstring says why.

# %%
talk.show(6, "interface.py", "publish")

# %% [markdown]
# ## The receiver, on the bus
#
# Each task now also publishes what it prints. `main()` opens the session bus, exports
# the object, and requests the name last, so that whoever sees the name appear finds the
# object already there.

# %%
talk.diff(6)

# %% [markdown]
# ## Run it, on a bus of our own
#
# `talk.bus()` starts a private `dbus-daemon` for this notebook (tools/bus.py, as
# `make bus` does) and makes it the session bus of every program started from here on,
# and of this kernel. Nothing touches your desktop's bus.

# %%
bus = talk.bus()

# %%
receiver = talk.start("receiver", 6, "load", "sine")
receiver.wait_for("on the bus as org.example.Incoming")
receiver.show()

# %% [markdown]
# Anyone on the bus can now call the method. `busctl`, systemd's D-Bus tool, needs no
# code at all:

# %% tags=["busctl"]
talk.busctl(
    "call", "org.example.Incoming", "/org/example/Incoming", "org.example.Incoming", "GetIncoming"
)

# %%
talk.busctl("introspect", "org.example.Incoming", "/org/example/Incoming", "org.example.Incoming")

# %% [markdown]
# ## From Python, in this kernel
#
# The kernel's own connection to the private bus is python-sdbus's default bus, and the
# kernel's event loop is where its replies and signals arrive. A proxy of the step's
# `Incoming` class calls the method with `await` (chapter 7 makes this the client):

# %% tags=["get-incoming"]
interface = talk.load(6, "interface.py")
proxy = interface.Incoming.new_proxy(interface.NAME, interface.PATH)
print("GetIncoming() ->", await proxy.get_incoming())

# %% [markdown]
# Now real data: the feeder sends the load average and a sine wave five times a second,
# and the simulated GPIO line has its edges. For three seconds, this cell iterates over
# the `Message` signal (`async for message in proxy.message`):

# %% tags=["signals"]
feeder = talk.feeder("load", "sine")
messages = await talk.for_seconds(3, proxy.message)
talk.print_messages(messages)

# %% [markdown]
# The receiver printed the same, and keeps going while nobody listens: a signal costs
# the server one message to the daemon, whoever (and however many) subscribed.
# `make monitor` in a terminal shows the bus's traffic as it passes.
#
# Stop everything this notebook started: the receiver, the feeder, the private bus.

# %% tags=["stopped"]
talk.stop()
print("still running:", talk.running())

# %% [markdown]
# ## Exercise: step 06 from step 05
#
# Your copy of **step 05** is in `my_steps/06_dbus_server/`. Put it on the bus: an
# `interface.py` with the `Incoming` class (`GetIncoming`, `Message`), the name
# `org.example.Incoming`, a `Message` for every datagram and edge. The graders of
# `make check-6` call it with `busctl` and `gdbus` and count its signals, on a private bus
# of their own.

# %%
exercise = talk.exercise(6)

# %% tags=["check"]
exercise.check()
