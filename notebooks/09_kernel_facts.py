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
# # 9. What the kernel knows, and a sealed memfd
#
# A datagram socket can tell its receiver more than the bytes: ask, and `recvmsg()`
# returns *ancillary data* beside them. `SO_TIMESTAMPNS`: when the kernel received the
# datagram. `SO_PASSCRED`: who sent it, as the kernel vouches (pid, uid, gid: a process
# can only claim its own). Step 09 sends both out in a new signal, `MessageFrom`, beside
# the unchanged `Message`, and offers the recent messages as a *sealed memfd*: a file
# descriptor passed over D-Bus that the client maps, without a copy.

# %%
import os

import talk

talk.intro(9)

# %% [markdown]
# What kdbus promised (the seeds, 2013–2015), and where this chapter shows it done from
# user space today:
#
# | the promise | the mechanism here | section |
# |---|---|---|
# | "all messages carry timestamps" | `SO_TIMESTAMPNS`: the kernel's receive time | 1 |
# | "full credential information … with each message" | `SO_PASSCRED`, `SCM_CREDENTIALS` | 1 |
# | "memfd … zero-copy message passing" | a sealed memfd passed as a D-Bus fd (`h`) | 2 |
# | "pcap interface … so tcpdump will work" | the daemon's monitors, `busctl capture` | 3 |

# %% [markdown]
# ## 1. Timestamps and credentials: asking the kernel
#
# Two socket options, once; then every `recvmsg()` gets room for the answers
# (`ANCILLARY`), and `kernel_facts()` unpacks them.

# %%
talk.show(9, "receiver.py", "ANCILLARY", "ask_the_kernel", "kernel_facts")

# %% [markdown]
# Try it in this kernel, on a socket of our own, with the step's own functions: one
# datagram from the step's `sender.py` (another process), one from this kernel.

# %% tags=["facts"]
step9 = talk.load(9, "receiver.py")
sock = step9.dgram.bind(talk.path("facts"))
step9.ask_the_kernel(sock)
talk.sender(9, "facts", ["from sender.py"])
talk.send("facts", "from this kernel")
for _ in range(2):
    data, ancillary, flags, _ = sock.recvmsg(step9.dgram.MAX_SIZE, step9.ANCILLARY)
    timestamp_ns, (pid, uid, gid) = step9.kernel_facts(ancillary)
    print(f"{data.decode()!r}: received at {timestamp_ns} ns, from pid {pid}, uid {uid}")
print(f"this kernel is pid {os.getpid()}")
sock.close()
os.unlink(talk.path("facts"))

# %% [markdown]
# The kernel named each sender truly: this kernel's pid for its own datagram, another for
# `sender.py`'s. Caveats: the timestamp is our socket's, not the bus's (dbus-daemon stamps
# nothing); a pid is checked at send time and can be reused later (pidfds fix that), and a
# privileged process may claim any pid.
#
# ## 2. A sealed memfd: the server's MessageFrom, Recent and RecentFd
#
# The interface grows a signal and two methods; `Message` stays as it was, so the
# clients of steps 07 and 08 go on working.

# %%
talk.show(9, "interface.py", "Incoming")

# %% [markdown]
# `RecentFd()` returns a memfd (`h`: a file descriptor, which D-Bus passes over its
# socket as `SCM_RIGHTS`). Sealed, its bytes and size can never change again, so the
# client can map it and read it in place.

# %%
talk.show(9, "memfd.py", "sealed", "read_sealed")

# %% [markdown]
# ## Run it
#
# The private bus, the server, the feeder. From this kernel, `MessageFrom` for two
# seconds: the feeder's pid, and `pid 0` for the GPIO edges, which no process sent.

# %%
bus = talk.bus()
receiver = talk.start("receiver", 9, "load", "sine")
receiver.wait_for("on the bus as org.example.Incoming")
feeder = talk.feeder("load", "sine")

# %% tags=["message-from"]
interface = talk.load(9, "interface.py")
proxy = interface.Incoming.new_proxy(interface.NAME, interface.PATH)
messages = await talk.for_seconds(2, proxy.message_from)
for source, _, pid, uid, gid, text in messages[:8]:
    print(f"{source}: {text}  (pid {pid}, uid {uid}, gid {gid})")
print(f"the feeder is pid {feeder.pid}")

# %% [markdown]
# The recent messages, through a sealed memfd, read in this kernel:

# %% tags=["memfd"]
memfd = talk.load(9, "memfd.py")
fd = await proxy.recent_fd()
print(f"fd {fd} is {memfd.what(fd)}")
mapped = memfd.read_sealed(fd)  # checks the seals, maps it, closes fd
print(f"{len(mapped)} bytes, sealed; the last message: {mapped[:].splitlines()[-1].decode()}")
mapped.close()

# %% [markdown]
# The step's own tools: `snapshot.py` compares the memfd with `Recent()`'s copied bytes,
# and `client.py` prints who sent what (and plots it: here, into a picture).

# %% tags=["snapshot"]
talk.run(9, "snapshot.py", "--last", "3")

# %% tags=["client"]
picture = talk.RUNTIME / "kernel_facts.png"
client = talk.start(
    "client", 9, "--save", str(picture), "--seconds", "2", program="client.py", ready="one chart"
)
client.wait_for(f"wrote {picture}")
client.show()
talk.show_image(picture)

# %% [markdown]
# ## 3. Sniffing the bus
#
# kdbus readers hoped for a pcap interface. dbus-daemon has one of its own: a client may
# become a *monitor* (`BecomeMonitor`) and see every message. `busctl --user monitor`
# prints them; `busctl --user capture` writes pcapng for Wireshark and tshark (`make sniff`
# does that and prints one line per message). Two seconds of this bus, seen by a monitor:

# %% tags=["sniff"]
import json
import subprocess

seen = subprocess.run(
    ["timeout", "2", "busctl", "--user", "monitor", "--json=short", "org.example.Incoming"],
    capture_output=True,
    text=True,
)
members = [json.loads(line).get("member") for line in seen.stdout.splitlines() if line[:1] == "{"]
print({member: members.count(member) for member in sorted(set(filter(None, members)))})

# %% [markdown]
# What still needs the kernel: routing (dbus-daemon still receives and re-sends every
# message) and bloom-filter matching. The nearest user-space analogue is a match rule the
# daemon evaluates, such as only one source's messages (`arg0` is the signal's first argument):
# `dbus-monitor "type='signal',member='MessageFrom',arg0='simulated:0'"`.

# %% tags=["stopped"]
talk.stop()
print("still running:", talk.running())

# %% [markdown]
# ## Exercise: step 09 from step 08
#
# Your copy of **step 08** is in `my_steps/09_kernel_facts/`, with step 09's
# `snapshot.py` and the `memfd.py` it imports. Ask the kernel for the two facts, emit
# `MessageFrom`, add `Recent()` and `RecentFd()`, and let `client.py` print who sent what.
# The graders of `make check-9` check the pid against the real sender's.

# %%
exercise = talk.exercise(9)

# %% tags=["check"]
exercise.check()
