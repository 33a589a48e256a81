# The graders' own benchmark: verdict seconds over tests/graders/cases/, before and after.
.PHONY: grade-timing

grade-timing: setup ## time make check-N and make watch's verdicts on the graders' cases (BEFORE=rev to compare)
	@$(PY) -m tools.grade_timing $(if $(BEFORE),--before $(BEFORE))
