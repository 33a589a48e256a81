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
# # 3. An event loop, and a second task (steps 03 and 04)
#
# Steps 03 and 04. Instead of a thread blocked in `recvmsg()` for each socket, one thread
# asks the kernel "tell me when any of these is readable" (`epoll_wait`), and resumes
# whichever piece of code was waiting for that socket. That piece of code is a *task*,
# the loop is asyncio's event loop, and `await` is where a task lets the loop run others.

# %%
import asyncio
import os

import talk

talk.intro(3)

# %% [markdown]
# ## Waiting for a socket, the asyncio way
#
# `wait_readable()` is the heart of step 03. It asks the loop to call back when the fd is
# readable (`add_reader`), and suspends the task on a future until then. When it returns,
# `recvmsg()` has a datagram waiting and returns at once: nothing blocks any more.

# %%
talk.show(3, "receiver.py", "wait_readable", "receive")

# %% [markdown]
# `main()` binds the socket and runs `receive()` as a task; `asyncio.run()` runs the loop.

# %%
talk.show(3, "receiver.py", "main")

# %% [markdown]
# ## This notebook is an event loop too
#
# The Jupyter kernel runs an asyncio loop, and a cell may `await` on it. So we can import
# step 03's own `receiver.py` and run its `wait_readable()` right here, on a socket of our
# own. The task waits; the cell (and the kernel) does not:

# %% tags=["pending"]
step3 = talk.load(3, "receiver.py")
sock = step3.dgram.bind(talk.path("kernel"))
waiting = asyncio.create_task(step3.wait_readable(sock.fileno()))
print("is the task done?", waiting.done())

# %% [markdown]
# A datagram arrives, the loop sees the fd readable, the task resumes:

# %% tags=["in-kernel"]
talk.send("kernel", "wake up")
await waiting
data, _, flags, _ = sock.recvmsg(step3.dgram.MAX_SIZE)
print("the task is done:", waiting.done(), "and recvmsg() returned", data)
sock.close()
os.unlink(talk.path("kernel"))

# %% [markdown]
# ## Run step 03
#
# The receiver as a program: one socket, one task, one thread.

# %%
receiver = talk.start("receiver", 3)
talk.sender(3, "incoming", ["hello, event loop"])

# %% tags=["arrived3"]
receiver.wait_for("incoming: hello, event loop")
receiver.show()
receiver.show_threads()

# %% [markdown]
# ## Step 04: a second socket is a second task
#
# As in step 02, several sockets; but each one gets a task, not a thread. The loop waits
# for all of them in one `epoll_wait()`.

# %%
talk.intro(4)

# %%
talk.diff(4)

# %%
receiver = talk.start("receiver", 4, "load", "sine")
talk.feed("load", "sine", count=5)

# %% tags=["arrived4"]
receiver.expect_each(r"load: \d", r"sine: -?\d", count=5)
receiver.show()

# %% [markdown]
# The same two sockets as in chapter 2, and still **one thread**, asleep in
# `epoll_wait` (`make strace-4` shows it, system call by system call):

# %% tags=["threads"]
receiver.show_threads()

# %%
print("exit status:", receiver.stop())

# %% [markdown]
# ## Exercise: step 04 from step 03
#
# Your copy of **step 03** is in `my_steps/04_second_task/`: give every socket on the
# command line its own task on the one loop. Keep references to the tasks (a task nobody
# references can be garbage-collected while it waits). The check runs the graders of
# `make check-4`.

# %%
exercise = talk.exercise(4)

# %% tags=["check"]
exercise.check()
