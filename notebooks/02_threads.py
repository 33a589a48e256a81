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
# # 2. One thread per socket
#
# One socket is not enough: the talk's receiver listens to several sources at once (the
# load average, a sine wave, later a GPIO line). But `recvmsg()` blocks: a program that
# waits in it for one socket cannot wait for another. The classic answer: one thread per
# socket, each blocked in its own `recvmsg()`.

# %%
import talk

talk.intro(2)

# %% [markdown]
# What step 02 changed in the receiver: `receive()` stays as it was, `main()` binds every
# socket named on the command line and starts a thread for each.

# %%
talk.diff(2)

# %%
talk.show(2, "receiver.py", "main")

# %% [markdown]
# ## Run it
#
# The receiver on two sockets, `load` and `sine`, as `make step-2` starts it:

# %%
receiver = talk.start("receiver", 2, "load", "sine")

# %% [markdown]
# `tools/feeder.py` (what `make step-N` runs beside the receiver) sends real data: this
# machine's load average to `load`, a sine wave to `sine`. Both arrive, each line with its
# socket's name:

# %%
talk.feed("load", "sine", count=5)

# %% tags=["arrived"]
receiver.expect_each(r"load: \d", r"sine: -?\d", count=5)
receiver.show()

# %% [markdown]
# And a line of your own, through the step's `sender.py`:

# %% tags=["sent"]
talk.sender(2, "sine", ["not a number, but it arrives"])
receiver.wait_for("sine: not a number, but it arrives")
receiver.show()

# %% [markdown]
# ## The price: a thread per socket
#
# Where do they wait? `/proc/PID/task/*/wchan` says where each thread sleeps in the kernel:
# the main thread in a futex (`threading.Event().wait()`), and one thread per socket in
# the socket's receive queue. Two sockets, three threads; a hundred sockets, a hundred and
# one threads, each with its own stack. Chapter 3 does this with one.

# %% tags=["threads"]
receiver.show_threads()

# %%
print("exit status:", receiver.stop())

# %% [markdown]
# ## Exercise: step 02 from step 01
#
# Your copy of **step 01** is in `my_steps/02_threads/`: make its receiver listen on every
# socket named on the command line, one thread each, and print each message with its
# socket's name. The check runs the same graders as `make check-2`.

# %%
exercise = talk.exercise(2)

# %% tags=["check"]
exercise.check()
