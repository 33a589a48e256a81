# Live coding on stage (make live-N, tools/live.py) and practice at home (make watch, tools/watch.py).
# Both grade on every save with the step's grader (tools/ideas.py); live/ and my_steps/ are ignored.
SOLVED   ?=#       make live-4 SOLVED=1: start with the finished step swapped in
MY_STEPS ?= my_steps#  make watch: the attendee's own copy of the steps
POLL     ?=#       POLL=1: poll for saves (where inotify sees nothing)
export POLL
.PHONY: live-reset watch live-timing rehearse typed live-window-setup
TEST_SETUP += live-window-setup

live-%: setup ## type step N live: a copy of step N-1 in live/, programs and grader rerun on every save
	@$(PY) -m tools.live $* $(if $(filter-out 0,$(SOLVED)),--solved)

live-reset: ## start `make live-N` over: make live-reset N=4 (live/04_... becomes step 3 again)
	@$(PY) -m tools.live $(or $(N),$(error make live-reset N=<step>)) --reset

live-window-setup: ## what the live plot window's tests use: Xvfb, xdotool, xwininfo and xprop (x11-utils)
	@sh tools/system-deps.sh live

watch: setup ## practise in my_steps/, rustlings-style: graded on every save (N=4: from step 4; POLL=1)
	@$(PY) -m tools.watch --dir "$(MY_STEPS)" $(if $(N),--start $(N)) $(if $(filter-out 0,$(POLL)),--poll)

live-timing: setup ## measure make live-N's save-to-verdict time for steps 1-6 (median of 5 saves)
	@$(PY) -m tools.live_timing

rehearse: setup ## play the run sheet (slides/runsheet.toml) through tmux at 120x35: each part's time against its budget
	@$(PY) -m tools.rehearse $(if $(PARTS),--parts $(PARTS))

typed: ## lines the presenter types per step (slides/typed.toml), against the whole diff
	@$(PYTHON) -m tools.typed
