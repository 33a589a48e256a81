# make bench: the talk's performance claims, measured here (tools/bench/, python -m tools.bench).
# dbus-python builds from source against libdbus and GLib, so its headers come first:
# bench-setup runs after setup (the venv), installs tools/system-deps.d/bench.txt, then
# requirements-bench.txt into the same venv. PIN=1 pins bus, servers, clients to CPU 0.
BENCH_STAMP := $(VENV)/.bench-installed
PIN ?=
.PHONY: bench bench-quick bench-setup
TEST_SETUP += bench-setup

bench-setup: setup $(BENCH_STAMP) ## install the benchmark's extras: dbus-python (+ headers), dbus-broker
	@sh tools/system-deps.sh bench

$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	@sh tools/system-deps.sh bench
	$(PY) -m pip install -qq --disable-pip-version-check -r requirements-bench.txt
	@touch $@

bench: bench-setup ## measure the talk's claims (~2 min): table, build/bench/bench.json, charts (PIN=1: one CPU)
	@$(PY) -m tools.bench $(if $(PIN),--pin)

bench-quick: bench-setup ## the same benchmark in about a minute (fewer, shorter repeats)
	@$(PY) -m tools.bench --quick $(if $(PIN),--pin)
