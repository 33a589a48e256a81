# GPIO (step 05): a real kernel GPIO chip for the tests (the gpio-vm) and for presenters (gpio-sim).
# tools/gpio_vm/ builds a qemu VM from Debian's packages (stock kernel + gpio-sim built out of tree);
# tools/gpio_sim.py makes a gpio-sim chip through configfs and presses its "button".
.PHONY: gpio-vm gpio-vm-setup test-gpio-vm gpio-sim gpio-press gpio-sim-remove

GPIO_LINE ?= 17#  make gpio-sim GPIO_LINE=3, make gpio-press GPIO_LINE=3: the button's line

TEST_SETUP += gpio-vm-setup

gpio-vm: setup ## build the gpio-vm (qemu, Debian kernel, gpio-sim) in build/gpio-vm/ (root on Debian)
	@$(PY) -m tools.gpio_vm build

gpio-vm-setup: setup
	@$(PY) -m tools.gpio_vm build --if-possible

test-gpio-vm: gpio-vm ## run step 05 against a real GPIO chip (gpio-sim) and CAN bus (vcan) in the gpio-vm
	@$(PY) -m tools.gpio_vm test

gpio-sim: ## make a gpio-sim chip (Linux with the gpio-sim module; root) and print the --gpio argument
	@$(PYTHON) -m tools.gpio_sim create --line $(GPIO_LINE)

gpio-press: ## press the gpio-sim "button": flip the line's pull, one edge each time
	@$(PYTHON) -m tools.gpio_sim toggle --line $(GPIO_LINE)

gpio-sim-remove: ## remove the gpio-sim chip of make gpio-sim
	@$(PYTHON) -m tools.gpio_sim remove
