# The container image (Dockerfile at the root: Docker, Podman, Binder, dev containers).
# tools/container.py builds and runs it; tests/test_container.py checks it from inside.
# On Debian as root with podman, make test builds it from a debootstrap'd base (no registry).
.PHONY: container container-run container-setup test-container

TEST_SETUP += container-setup

container: ## build the image `incoming` from the Dockerfile with podman or docker
	@$(PYTHON) -m tools.container build

container-run: ## JupyterLab in the image, published on 127.0.0.1 only; prints the URL
	@$(PYTHON) -m tools.container run

container-setup: setup
	@sh tools/system-deps.sh container || true
	@$(PY) -m tools.container build --if-possible

test-container: container-setup ## build the image here (debootstrap base, podman) and run the checks inside it
	$(PY) -m pytest -q tests/test_container.py
