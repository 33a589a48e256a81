# The container image (Dockerfile at the root: Docker, Podman, Binder, dev containers).
# tools/container.py builds and runs it; tests/test_container.py checks it from inside.
# On Debian as root with podman, make test builds it from a debootstrap'd base (no registry).
.PHONY: container container-run container-setup test-container

TEST_SETUP += container-setup

container: ## build the image `incoming` from the Dockerfile with podman or docker
	@$(PYTHON) -m tools.container build

container-run: ## JupyterLab in the image, published on 127.0.0.1 only; prints the URL
	@$(PYTHON) -m tools.container run

# Quiet, as every setup target: podman's output (apt's inside the image too) goes to a log,
# and the build's own last line (built in N s, or not built: why) is what it says.
CONTAINER_LOG := build/container-setup.log
container-setup: setup
	@sh tools/system-deps.sh container || true
	@mkdir -p build; if $(PY) -m tools.container build --if-possible >$(CONTAINER_LOG) 2>&1; \
	  then echo "$$(tail -n 1 $(CONTAINER_LOG)) (podman's output: $(CONTAINER_LOG))"; \
	  else echo "container-setup failed: $$(tail -n 1 $(CONTAINER_LOG)) (all of it: $(CONTAINER_LOG))" >&2; exit 1; fi

test-container: container-setup ## build the image here (debootstrap base, podman) and run the checks inside it
	$(PY) -m pytest -q tests/test_container.py
