# The talk's slides (tools/slides.py): slides/*.md + steps/ -> build/slides/index.html, offline.
# reveal.js is pinned in slides/package-lock.json and installed with `npm ci` into build/slides-npm/.
SLIDES_NPM  := build/slides-npm
SLIDES_PORT ?= 8000
.PHONY: slides slides-setup slides-serve slides-pdf

slides-setup: setup $(SLIDES_NPM)/.installed ## install what the slides need: chromium, npm, reveal.js, Playwright
	@sh tools/system-deps.sh slides

$(SLIDES_NPM)/.installed: slides/package.json slides/package-lock.json
	@sh tools/system-deps.sh slides
	@rm -rf $(SLIDES_NPM) && mkdir -p $(SLIDES_NPM)
	cp slides/package.json slides/package-lock.json $(SLIDES_NPM)/
	cd $(SLIDES_NPM) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

slides: slides-setup ## build the talk's slides from steps/: build/slides/index.html, opens offline
	@$(PY) -m tools.slides build

slides-serve: slides ## serve the slides on http://127.0.0.1:8000/ (SLIDES_PORT=...), localhost only
	@$(PY) -m tools.slides serve --port $(SLIDES_PORT)

slides-pdf: slides ## print the slides to build/slides.pdf, one page per slide (chromium, Playwright)
	@$(PY) -m tools.slides pdf

TEST_SETUP += slides-setup
