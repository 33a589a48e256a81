# notebooks/: the talk, chapter by chapter, for attendees in JupyterLab.
# The kernel "incoming" is this checkout's .venv, registered inside the venv itself.
# mk/jupyter_server_config.json hides the notebooks' paired .py files from the file browser
# (they stay on disk for maintainers, and jupytext still saves both).

NB_KERNEL := $(VENV)/share/jupyter/kernels/incoming/kernel.json
NB_PORT   ?= 8888
NB_ROOT   := $(if $(filter 0,$(shell id -u)),--allow-root)#  root (a container, CI) must say so

.PHONY: notebooks notebooks-kernel notebooks-sync notebooks-browser-setup
TEST_SETUP += notebooks-kernel notebooks-browser-setup
setup: $(NB_KERNEL)

notebooks-kernel: $(NB_KERNEL) ## register the venv as the Jupyter kernel "incoming" (part of make setup)

$(NB_KERNEL): $(STAMP)
	$(PY) -m ipykernel install --prefix "$(VENV)" --name incoming --display-name "incoming (.venv)" >/dev/null
	@echo "registered the Jupyter kernel 'incoming': $(dir $@)"

notebooks: setup $(NB_KERNEL) ## open the talk's notebooks in JupyterLab (localhost only)
	$(VENV)/bin/jupyter lab --config=mk/jupyter_server_config.json \
	  --ServerApp.ip=127.0.0.1 --ServerApp.port=$(NB_PORT) \
	  --ServerApp.root_dir=notebooks --MappingKernelManager.default_kernel_name=incoming $(NB_ROOT)

notebooks-sync: setup ## after editing a notebook's .py (or .ipynb): bring its pair up to date
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.ipynb

notebooks-browser-setup: setup ## what the notebooks' browser tests need: Chromium (Playwright is pinned)
	@sh tools/system-deps.sh notebooks
