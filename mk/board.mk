# make board (mk/board.mk): a small Debian machine with systemd as PID 1 (systemd-nspawn),
# the latest step's service installed by `make install-service`, sshd on 127.0.0.1 only.
# tools/board/ builds it (debootstrap, cached in build/board/) and boots it. Root, Debian.
.PHONY: board board-ssh board-stop board-setup board-status board-deps

BOARD_STEP ?=#  make board BOARD_STEP=11: that step's service (default: the latest step)
CMD ?=#         make board-ssh CMD='systemctl status incoming': run it there (default: a shell)

TEST_SETUP += board-setup

board: setup board-deps ## boot the board (systemd in nspawn) with the service; print its --host
	@$(PY) -m tools.board start $(if $(BOARD_STEP),--step $(BOARD_STEP))

board-ssh: ## a shell on the board as root (CMD='...': run that instead)
	@$(PY) -m tools.board ssh "$$CMD"

board-stop: ## power the board off
	@$(PY) -m tools.board stop

board-status:
	@$(PY) -m tools.board status

board-deps:
	@sh tools/system-deps.sh board

board-setup: setup ## build the board's root filesystem for the tests (skips with the reason where it cannot)
	@sh tools/system-deps.sh board 2>/dev/null || true
	@$(PY) -m tools.board build --if-possible
