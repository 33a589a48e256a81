# tests/test_nonroot.py: a real unprivileged account (made by the test, root only), in a clone
# of its own and in a shared read-only checkout. That checkout's venv must be runnable by
# another account, which root's own .venv may not be (a Python under /root, pyenv's):
# nonroot-setup makes one from Debian's python3 in build/shared-venv (pip only when
# requirements.txt changes).
SHARED_VENV := build/shared-venv
.PHONY: nonroot-setup
TEST_SETUP += nonroot-setup

nonroot-setup: setup
	@if [ -x /usr/bin/python3 ] && [ "$$(id -u)" = 0 ]; then \
	  $(MAKE) -s --no-print-directory setup VENV=$(SHARED_VENV) PYTHON=/usr/bin/python3; fi
