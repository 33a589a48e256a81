"""`make bench`: the talk's performance claims, measured on this machine.

    python -m tools.bench [--quick] [--pin] [--out DIR]

Six parts, each compared inside one run and reported as medians of several repeats
with ratios against a baseline measured in the same run:

  raw       the physical limit: AF_UNIX datagrams between two Python processes
  pipeline  datagram -> step 06 / step 10 server -> Message signal -> client, beside
            sdbus's own signal ceiling; and where a message's time goes in each server
  peers     sdbus, dbus-fast, jeepney, dbus-python as clients and as servers
  cost      context switches and syscalls per method call: client, server, daemon
  broker    dbus-broker against dbus-daemon (when it can run standalone here)
  memfd     a big payload, 1 KiB ... 64 MiB: copied into the reply (ay) or a sealed memfd (h)

Every server and client is a process of its own (tools/bench/worker.py), on a
private bus from tools/bus.py. Output: a table here, build/bench/bench.json and
one PNG chart per comparison.
"""
