# CAN (step 05 and later, --can IFACE): a virtual CAN bus (vcan) to read frames from, and a sender.
# tools/can_sim.py makes vcan0 where the kernel has CAN and vcan (root); the gpio-vm has both and
# runs the CAN graders (tests/test_gpio_vm.py). cansend/candump come from can-utils.
CAN_IFACE ?= vcan0#  make can-sim CAN_IFACE=vcan1: another interface name
.PHONY: can-sim can-send can-sim-remove can-setup
TEST_SETUP += can-setup

can-setup: ## install what the CAN targets use: ip (iproute2), cansend and candump (can-utils)
	@sh tools/system-deps.sh can

can-sim: ## make a virtual CAN bus vcan0 (Linux with vcan; root) and print the --can argument
	@sh tools/system-deps.sh can
	@$(PYTHON) -m tools.can_sim create --iface $(CAN_IFACE)

can-send: ## put frames on vcan0: make can-send FRAMES="123#DEADBEEF 7FF#R" (or COUNT=1000)
	@$(PYTHON) -m tools.can_sim send --iface $(CAN_IFACE) $(FRAMES) $(if $(COUNT),--count $(COUNT))

can-sim-remove: ## remove the vcan interface of make can-sim
	@$(PYTHON) -m tools.can_sim remove --iface $(CAN_IFACE)
