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
# # 1. One socket
#
# The talk starts with the smallest thing that can carry a message from one program to
# another: an `AF_UNIX` datagram socket. A receiver binds it to a path in the file system;
# a sender sends datagrams to that path. Each datagram arrives whole: one `recvmsg()`, one
# message.
#
# Every cell below shows code **read from the step's files** (`steps/01_single_socket/`)
# and runs the step's own programs. Run the cells top to bottom (Shift-Enter).
# The ■ button (interrupt) stops every program this notebook started, like Ctrl-C in a
# terminal; so does restarting or shutting down the kernel.

# %%
import talk

talk.intro(1)

# %% [markdown]
# ## The receiver
#
# `main()` picks the socket's path, binds it, and hands the socket to `receive()`. When it
# ends (Ctrl-C, SIGTERM), it removes the socket file: a path in the file system outlives
# the program otherwise.

# %%
talk.show(1, "receiver.py", "main")

# %% [markdown]
# `receive()` is the whole idea: wait in `recvmsg()` until a datagram arrives, print it,
# repeat. `recvmsg()` *blocks*: while nothing arrives, the program sleeps in the kernel.

# %%
talk.show(1, "receiver.py", "receive")

# %% [markdown]
# The housekeeping lives in `dgram.py`, the same file in every step. `bind()` makes the
# socket file owner-only (whatever the umask) and replaces a file left behind by a
# receiver that crashed, but never steals the path of one that is still listening.

# %%
talk.show(1, "dgram.py", "bind")

# %% [markdown]
# ## Run it
#
# `talk.start()` runs `python3 receiver.py` from the step's folder in the background and
# returns once it says it is listening. This kernel's sockets live in a folder of its own,
# so nothing here meets a receiver you run in a terminal. Re-running the cell replaces the
# receiver.

# %%
receiver = talk.start("receiver", 1)

# %% [markdown]
# The step's own `sender.py` turns each line on its standard input into one datagram:

# %%
talk.show(1, "sender.py", "main")

# %%
talk.sender(1, "incoming", ["hello from the notebook", "a second datagram"])

# %% tags=["arrived"]
receiver.wait_for("incoming: hello from the notebook", "incoming: a second datagram")
receiver.show()

# %% [markdown]
# A datagram is bytes, not text. `dgram.describe()` says so when they are not UTF-8, when
# the datagram is empty, and when it was longer than the receiver's buffer
# (`MSG_TRUNC`): the rest of it is gone.

# %%
talk.show(1, "dgram.py", "MAX_SIZE", "describe")

# %% tags=["odd"]
talk.send("incoming", b"", b"\xff\xfe not text", b"x" * 2000, "still fine")
receiver.wait_for("incoming: still fine")
receiver.show()

# %% [markdown]
# The receiver waits in the kernel; `/proc` shows where. One thread, asleep until a
# datagram arrives:

# %%
receiver.show_threads()

# %% [markdown]
# Stopping it (SIGTERM, as `kill` would) removes its socket file:

# %% tags=["stopped"]
print("exit status:", receiver.stop())
print("socket file left behind:", talk.exists("incoming"))

# %% [markdown]
# ## Exercise: write step 01's `receive()` yourself
#
# Below, `talk.exercise(1)` puts a copy of step 01 into `my_steps/` with the body of
# `receive()` emptied out (`main()` still binds the socket and calls it). Open the file
# (the link below), write the loop, save, and run the check cell: it runs the same graders
# as `make check-1 STEPS=...` in a terminal. Until you have written it, the check says why
# it fails. `exercise.reset()` starts over.

# %%
exercise = talk.exercise(1)

# %% tags=["check"]
exercise.check()
