# notebooks/: the talk, chapter by chapter, for attendees in JupyterLab.
# The kernel "incoming" is this checkout's .venv, registered inside the venv itself.
# mk/jupyter/ is JupyterLab's extra config folder ($JUPYTER_CONFIG_PATH, the image's too):
# jupyter_server_config.json hides the notebooks' paired .py files from the file browser (they
# stay on disk for maintainers, and jupytext still saves both) and offers one kernel, "incoming";
# labconfig/default_setting_overrides.json turns off the news prompt.

NB_KERNEL := $(VENV)/share/jupyter/kernels/incoming/kernel.json
NB_PORT   ?= 8888
NB_ROOT   := $(if $(filter 0,$(shell id -u)),--allow-root)#  root (a container, CI) must say so

.PHONY: notebooks notebooks-kernel notebooks-sync notebooks-browser-setup
TEST_SETUP += notebooks-kernel notebooks-browser-setup
setup: $(NB_KERNEL)

notebooks-kernel: $(NB_KERNEL) ## register the venv as the Jupyter kernel "incoming" (part of make setup)

# The kernel reports its language without Python's version, as the committed notebooks say it:
# JupyterLab writes what the kernel reports into a notebook's metadata, and a notebook whose
# metadata changed on opening is "modified" (every close would ask to save). Its python is the
# venv's real folder: a checkout whose .venv is a link to a shared venv may go away.
NB_LANGUAGE := get_ipython().kernel.language_info.pop('version', None)

$(NB_KERNEL): $(STAMP) mk/notebooks.mk
	$(PY) -m ipykernel install --prefix "$(VENV)" --name incoming --display-name "incoming (.venv)" >/dev/null
	$(PY) -c 'import json, os, sys; k = json.load(open(sys.argv[1])); k["argv"].append(sys.argv[2]); \
	  k["argv"][0] = os.path.realpath(sys.argv[3]) + "/bin/python"; \
	  json.dump(k, open(sys.argv[1], "w"), indent=1)' "$@" "--IPKernelApp.exec_lines=$(NB_LANGUAGE)" "$(VENV)"
	@echo "registered the Jupyter kernel 'incoming': $(dir $@)"

notebooks: setup $(NB_KERNEL) ## open the talk's notebooks in JupyterLab (localhost only)
	JUPYTER_CONFIG_PATH="$(CURDIR)/mk/jupyter" $(VENV)/bin/jupyter lab \
	  --ServerApp.ip=127.0.0.1 --ServerApp.port=$(NB_PORT) --ServerApp.root_dir=notebooks $(NB_ROOT)

notebooks-sync: setup ## after editing a notebook's .py (or .ipynb): bring its pair up to date
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.ipynb

notebooks-browser-setup: setup ## what the notebooks' browser tests need: Chromium (Playwright is pinned)
	@sh tools/system-deps.sh notebooks
