"""The gpio-vm: a real Linux kernel with the gpio-sim GPIO simulator, in qemu, for the tests.

This machine's kernel (and CI's) has no GPIO support at all, so step 05's hardware test
runs in a VM built from Debian's packages: `python -m tools.gpio_vm build` (build.py),
then `python -m tools.gpio_vm test` (run.py) boots it and runs tests/gpio_vm inside. The
same stock kernel has CAN (can_raw, vcan): the graders' CAN tests run there too (GUEST_TESTS).
"""
