# make install-service (mk/service.mk): the latest step's server as a system service, the way a board
# runs it. Root; DESTDIR-aware (DESTDIR=/tmp/stage installs under it and touches nothing else).
# The code goes to $(SERVICE_LIB), its two Python packages (pinned in requirements.txt) to
# $(SERVICE_LIB)/site for the system's python3; the unit, the sysusers file and the bus's policy
# go where systemd and dbus-daemon look for a local administrator's files.
SERVICE_STEP   ?= $(shell $(PYTHON) -c 'from tools import table; print(table.load()[-1].n)')#  the latest step, or SERVICE_STEP=11
SERVICE_PYTHON ?= /usr/bin/python3#    the Python the unit runs (its ExecStart=)
PREFIX         ?= /usr/local
DESTDIR        ?=
SERVICE_LIB    := $(PREFIX)/lib/incoming
SERVICE_SRC     = $(shell $(PYTHON) -c 'from tools import table; print(table.get($(SERVICE_STEP)).folder("$(STEPS)"))')
SERVICE_DEPS    = $(shell grep -E '^(sdbus|gpiod)==' requirements.txt | cut -d' ' -f1)
SERVICE_FILES  := /etc/systemd/system/incoming.service \
                  /etc/sysusers.d/incoming.conf \
                  /etc/dbus-1/system.d/org.example.Incoming.conf \
                  $(PREFIX)/share/dbus-1/system-services/org.example.Incoming.service
.PHONY: install-service uninstall-service

install-service: ## install the latest step's server as incoming.service, with its user and bus policy (root)
	@test "$$(id -u)" = 0 || { echo "install-service: run it as root (sudo make install-service)" >&2; exit 1; }
	@set -e; src="$(SERVICE_SRC)"; \
	for file in "$$src"/*.py; do \
	  install -D -m 644 "$$file" "$(DESTDIR)$(SERVICE_LIB)/$${file##*/}"; \
	  echo "  installed $(DESTDIR)$(SERVICE_LIB)/$${file##*/}"; done; \
	install -d "$(DESTDIR)/etc/systemd/system"; \
	sed -e 's|/usr/local/lib/incoming|$(SERVICE_LIB)|g' -e 's|/usr/bin/python3|$(SERVICE_PYTHON)|' \
	  "$$src/incoming.service" > "$(DESTDIR)/etc/systemd/system/incoming.service"; \
	install -D -m 644 "$$src/incoming.sysusers" "$(DESTDIR)/etc/sysusers.d/incoming.conf"; \
	install -D -m 644 "$$src/org.example.Incoming.conf" "$(DESTDIR)/etc/dbus-1/system.d/org.example.Incoming.conf"; \
	install -D -m 644 "$$src/org.example.Incoming.service" "$(DESTDIR)$(PREFIX)/share/dbus-1/system-services/org.example.Incoming.service"; \
	for file in $(SERVICE_FILES); do echo "  installed $(DESTDIR)$$file"; done
	@$(SERVICE_PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore \
	  --no-warn-script-location --upgrade --target "$(DESTDIR)$(SERVICE_LIB)/site" $(SERVICE_DEPS) 2>/dev/null \
	  || { echo "install-service: $(SERVICE_PYTHON) -m pip install $(SERVICE_DEPS) failed (no pip? apt install python3-pip)" >&2; exit 1; }
	@echo "  installed $(DESTDIR)$(SERVICE_LIB)/site/ ($(SERVICE_DEPS))"
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  systemd-sysusers /etc/sysusers.d/incoming.conf && echo "  made the user incoming (systemd-sysusers)"; \
	  systemctl daemon-reload && echo "  systemctl daemon-reload"; \
	  busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig \
	    && echo "  the system bus reloaded its policy"; \
	  echo "now: systemctl enable --now incoming   (journalctl -u incoming -f)"; \
	else echo "(DESTDIR given, or no systemd running: users, systemd and the bus left alone)"; fi

uninstall-service: ## remove what install-service installed (root; stop the service first)
	@test "$$(id -u)" = 0 || { echo "uninstall-service: run it as root" >&2; exit 1; }
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl disable --now incoming 2>/dev/null || true; fi
	@for file in $(SERVICE_FILES); do \
	  if [ -e "$(DESTDIR)$$file" ]; then rm -f "$(DESTDIR)$$file" && echo "  removed $(DESTDIR)$$file"; fi; done
	@if [ -d "$(DESTDIR)$(SERVICE_LIB)" ]; then rm -rf "$(DESTDIR)$(SERVICE_LIB)" && echo "  removed $(DESTDIR)$(SERVICE_LIB)/"; fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; \
	  echo "(the user incoming stays, as systemd-sysusers users do: userdel incoming removes it)"; fi

.PHONY: service-setup
TEST_SETUP += service-setup
service-setup: setup ## install what step 11's tests need: sshd, ssh, systemd's tools, gdbus
	@sh tools/system-deps.sh service

.PHONY: remote-demo
remote-demo: setup service-setup ## step 11 end to end (root): the service on a private system bus, plotted over ssh
	@$(PY) -m tools.system_bus --save build/step11/over-ssh.png --seconds $(or $(DURATION),12)
