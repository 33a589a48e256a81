# Live coding on stage (make live-N, tools/live.py) and practice at home (make watch, tools/watch.py).
# Both grade on every save with the step's grader (tools/ideas.py); live/ and my_steps/ are ignored.
SOLVED   ?=#       make live-4 SOLVED=1: start with the finished step swapped in
MY_STEPS ?= my_steps#  make watch: the attendee's own copy of the steps
POLL     ?=#       POLL=1: poll for saves (where inotify sees nothing)
export POLL
.PHONY: live-reset

live-%: setup ## type step N live: a copy of step N-1 in live/, programs and grader rerun on every save
	@$(PY) -m tools.live $* $(if $(filter-out 0,$(SOLVED)),--solved)

live-reset: ## start `make live-N` over: make live-reset N=4 (live/04_... becomes step 3 again)
	@$(PY) -m tools.live $(or $(N),$(error make live-reset N=<step>)) --reset

