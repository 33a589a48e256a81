# incoming: the companion repo of the talk
# "systemd's D-Bus implementation, and its Python asyncio binding".
# `make help` lists every target. The steps table is steps/steps.toml.

STEPS   ?= steps#          the steps folder: make check-3 STEPS=~/my_steps grades your own
BUS     ?= private#        private: a dbus-daemon of our own; session: your session bus
VENV    ?= .venv
PYTHON  ?= python3
DURATION ?=#               make step-N DURATION=5: stop by itself after 5 seconds
GPIO    ?=#               make step-5 GPIO=gpiochip1:17: a real line (default: a simulated one)
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
export STEPS BUS DURATION GPIO

# Each area's own targets live in mk/*.mk (included here, so `make help` lists them too).
# An area whose tests need more than the venv adds its setup target to TEST_SETUP.
TEST_SETUP :=
include $(wildcard mk/*.mk)

.DEFAULT_GOAL := help
.PHONY: help setup system step-% diff-% strace-% check-% test lint format demo bus bus-stop monitor clean

help: ## list the targets, one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_%-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  (N is a step number: make step-4, make diff-4, make check-4 STEPS=my_steps)"

setup: $(STAMP) system ## create .venv with the pinned requirements; check the system tools

# A shared read-only checkout: one line saying what to do instead of pip's "Permission denied".
venv_writable = $(shell mkdir -p "$(dir $(abspath $(VENV)))" 2>/dev/null; \
  if [ -e "$(VENV)" ]; then test -w "$(VENV)"; else test -w "$(dir $(abspath $(VENV)))"; fi && echo yes)

$(STAMP): requirements.txt
	$(if $(venv_writable),,$(error $(abspath $(VENV)) cannot be created or updated here (a read-only checkout?): use a clone of your own, or export VENV=$(HOME)/.venvs/incoming))
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check -r requirements.txt
	@touch $@

system:
	@sh tools/system-deps.sh core

step-%: setup ## run step N for the audience: receiver, a feeder, and what else it needs
	@$(PY) -m tools.stage $* --steps "$(STEPS)"

diff-%: ## show what step N adds to step N-1: coloured, paged, typed files first (FILE=x.py: one file)
	@$(PYTHON) -m tools.stepdiff $* --steps "$(STEPS)" $(if $(FILE),--file $(FILE))

strace-%: setup ## run step N under strace -f and summarise how it waits (CAN=vcan0: and a CAN bus)
	@$(PY) -m tools.strace_demo $* --steps "$(STEPS)" $(if $(CAN),--can $(CAN))

check-%: setup ## grade step N (of STEPS=..., default steps/) with its tests
	@$(PY) -m tools.grade $* --steps "$(STEPS)"

test: setup $(TEST_SETUP) ## everything: lint, types, every grader, the Makefile targets, strace, ...
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

lint: setup ## ruff check, ruff format --check, and mypy on tools/ and tests/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup ## reformat the code with ruff
	$(VENV)/bin/ruff format .

demo: setup ## the whole talk's pipeline, newest step
	@$(PY) -m tools.demo

bus: ## start a private dbus-daemon (in your runtime folder) and print its export line
	@$(PYTHON) -m tools.bus start

bus-stop: ## stop the private dbus-daemon of `make bus`
	@$(PYTHON) -m tools.bus stop

monitor: ## watch the private bus (busctl monitor); SOURCE=load: only that source's signals (arg0 match)
	@exec $(PYTHON) -m tools.monitor -- "$$SOURCE"

clean: ## remove the run/ and build/ outputs (keeps .venv)
	rm -rf run build .pytest_cache .ruff_cache

