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
# # 5. Other event sources: a GPIO line
#
# The loop does not care what is behind a file descriptor. A GPIO line (a button, a
# sensor's interrupt pin) is one more: with libgpiod v2, a *line request* has an fd that
# becomes readable when edges (rising, falling) are waiting. One more task on the same
# loop, beside the sockets; still one `epoll_wait()`.

# %%
import talk

talk.intro(5)

# %% [markdown]
# What step 05 adds to step 04's receiver: opening the line (`open_gpio()`) and a task
# that watches it (`watch()`), with the same `wait_readable()` as the sockets' task.

# %%
talk.diff(5)

# %%
talk.show(5, "receiver.py", "open_gpio", "watch")

# %% [markdown]
# ## No GPIO here? An honest simulated line
#
# Most laptops have no GPIO pins. Without `--gpio CHIP:LINE`, the receiver uses a
# simulated line that says so: a pipe whose read end is the fd, and a timer of the
# event loop's own that plays the finger on the button (no thread). From the fd
# onward it takes the same path as a real line, down to the `gpiod.EdgeEvent` objects.

# %%
talk.show(5, "simulated_gpio.py")

# %% [markdown]
# ## Run it
#
# The receiver on `load` and `sine`, and a GPIO line: `"sim"`, the simulated one, unless
# you have a real one (`"gpiochip0:17"` on a Raspberry Pi, or what `make gpio-sim` printed)
# and change `GPIO` here.

# %%
GPIO = "sim"
receiver = talk.start("receiver", 5, "load", "sine", "--gpio", GPIO)
talk.feed("load", "sine", count=5)

# %% tags=["arrived"]
receiver.expect_each(r"load: \d", r"sine: -?\d", count=5)
receiver.expect_each(r": rising \[", r": falling \[", count=2)
receiver.show()

# %% [markdown]
# The timestamps come from the kernel's edge events (here: the simulated button's clock),
# not from when Python got round to printing them.
#
# One thread: the loop's, asleep in `epoll_wait` until a socket, the line's fd or the
# button's timer is due. A real line needs no timer of ours: the kernel's GPIO driver
# writes the events.

# %% tags=["threads"]
receiver.show_threads()

# %%
print("exit status:", receiver.stop())

# %% [markdown]
# ## A real line
#
# On a Raspberry Pi (or any board with a GPIO chip), name the chip and line, e.g.
# `python3 receiver.py load sine --gpio gpiochip0:17` in `steps/05_gpio/`. On a Linux
# machine without GPIO, the kernel's `gpio-sim` module makes a chip whose lines you can
# pull from user space: `make gpio-sim` (root) creates one, `make gpio-press` presses its
# "button"; `make test-gpio-vm` runs step 05 against one inside a small VM.
#
# A line that cannot be opened is one clear line on stderr, and the sockets go on:

# %% tags=["bad-line"]
receiver = talk.start("receiver", 5, "load", "--gpio", "gpiochip99:3")
talk.send("load", "still here")
receiver.wait_for("load: still here")
receiver.wait_for_error("^gpio: gpiochip99:3: ")
receiver.show()
print("exit status:", receiver.stop())

# %% [markdown]
# ## A CAN bus: one more socket, from another address family
#
# For a car or a machine, the most familiar source of all is a CAN bus. The kernel
# delivers its frames on a socket of their own family, `socket(AF_CAN, SOCK_RAW,
# CAN_RAW)`, bound to an interface (`can0`, or `vcan0`, a virtual bus that `make can-sim`
# makes as root). `--can IFACE` adds it beside the GPIO line: one more task, `read_can()`,
# waiting with the same `wait_readable()`; `can.py` opens the socket and writes each frame
# in candump's notation, `vcan0: 123#DEADBEEF`.

# %%
talk.show(5, "receiver.py", "read_can")

# %%
talk.show(5, "can.py", "CanSocket", "open_can")

# %% [markdown]
# Most laptops have no CAN bus, and many kernels (macOS has none, WSL's and some cloud
# kernels lack the modules) no CAN sockets at all: then the receiver says so in one line,
# and the sockets go on. Where `make can-sim` made `vcan0`, a frame sent from outside
# (here by `tools/can_sim.py`; `cansend vcan0 123#DEADBEEF` from can-utils does the same)
# arrives as a line. `make test-gpio-vm` runs the CAN graders on a real kernel in a VM.

# %% tags=["can"]
from tools import can_sim  # noqa: E402

CAN = "vcan0"  # --gpio none:0: no GPIO line this time, only the socket and the CAN bus
receiver = talk.start("receiver", 5, "load", "--gpio", "none:0", "--can", CAN)
talk.send("load", "still here")
receiver.wait_for("load: still here")  # the CAN socket is open (or refused) by now
if can_sim.unavailable() is None and can_sim.exists(CAN):
    can_sim.send([can_sim.parse("123#DEADBEEF")], CAN)
    receiver.wait_for(f"{CAN}: 123#DEADBEEF")
else:
    receiver.wait_for_error(f"^can: {CAN}: ")
    print("no CAN here:", can_sim.unavailable() or f"no {CAN} (sudo make can-sim)")
receiver.show(matching=f"^(load|{CAN}|can):")  # not gpio: none:0 is no line, on purpose
print("exit status:", receiver.stop())

# %% [markdown]
# ## Exercise: step 05 from step 04
#
# Your copy of **step 04** is in `my_steps/05_gpio/`, with step 05's `simulated_gpio.py`
# and `can.py` already in it. In `receiver.py`, add a task that watches a GPIO line
# (`--gpio sim`, the default, is the simulated line) and, with `--can IFACE`, a task that
# reads the CAN socket `can.open_can(iface)` gives. The check runs the graders of
# `make check-5`: without CAN in the kernel, they check that `--can` says so in one line
# and the sockets go on.

# %%
exercise = talk.exercise(5)

# %% tags=["check"]
exercise.check()
