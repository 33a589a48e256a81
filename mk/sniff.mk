# make sniff: capture the private bus while a step runs (busctl --user capture -> pcapng, kept in
# build/sniff/ for Wireshark) and print one line per message with tshark (tools/sniff.py).
# tshark's package asks whether non-superusers may capture: answered "no" before it installs.
SNIFF_STEP ?=#     make sniff SNIFF_STEP=6: another step than the newest on the bus
.PHONY: sniff sniff-setup
TEST_SETUP += sniff-setup

sniff-setup: setup ## install what make sniff needs: tshark (Wireshark's command line)
	@if [ "$$(id -u)" = 0 ] && command -v debconf-set-selections >/dev/null 2>&1; then \
	  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; fi
	@sh tools/system-deps.sh sniff

sniff: sniff-setup ## capture the private bus while the newest step runs; a line per message (tshark)
	@$(PY) -m tools.sniff $(if $(SNIFF_STEP),--step $(SNIFF_STEP)) --seconds $(or $(DURATION),3)
