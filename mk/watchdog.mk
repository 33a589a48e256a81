# make watchdog-demo (mk/watchdog.mk): step 12's server with systemd's side of the notify
# protocol played by a socket of ours (tools/notify_listen.py), on a private bus: READY=1,
# STATUS= and WATCHDOG=1 as they arrive. `kill -STOP` the receiver (its pid is printed) and
# the pings stop: "systemd would kill it now"; `kill -CONT` and they come back.
.PHONY: watchdog-demo
watchdog-demo: setup ## step 12 without systemd: what the server tells $NOTIFY_SOCKET, live
	@cd "$$($(PY) -c 'from tools import table; print(table.get(12).folder("$(STEPS)"))')" && \
	  PYTHONPATH="$(CURDIR)" $(abspath $(PY)) -m tools.bus run -- \
	  $(abspath $(PY)) -m tools.notify_listen --watchdog $(or $(WATCHDOG),4) -- \
	  $(abspath $(PY)) receiver.py load sine
