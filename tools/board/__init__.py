"""The board: a small Debian machine with systemd as PID 1, in systemd-nspawn.

build.py    its root filesystem, from Debian's packages (debootstrap), cached in build/board/
machine.py  boot it with a step's service installed, ssh into it, stop it
__main__.py make board, make board-ssh, make board-stop
"""
