# One image for every laptop: Docker, Podman, Binder (repo2docker) and dev containers
# (.devcontainer/devcontainer.json) all build this file. Inside: Debian, the system tools the
# steps need, the pinned requirements.txt in a venv, this repository in $HOME, and JupyterLab.
#
#   make container && make container-run                   # podman or docker; prints the URL
#   docker build -t incoming . && docker run --rm -p 127.0.0.1:8888:8888 incoming
#
# repo2docker's rules for a plain Dockerfile: a pinned FROM tag, a non-root user NB_USER with
# uid NB_UID 1000, the repository in ${HOME} owned by that user, JupyterLab installed, and an
# entrypoint that runs whatever command Binder passes (its own `jupyter ... --port=8888`).
FROM docker.io/library/debian:bookworm-20250520-slim

ARG NB_USER=jovyan
ARG NB_UID=1000
ENV USER=${NB_USER} \
    NB_USER=${NB_USER} \
    NB_UID=${NB_UID} \
    HOME=/home/${NB_USER} \
    LANG=C.UTF-8 \
    VENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH}

# Python with venv, make, git, and what tools/system-deps.sh installs for `core` (dbus-daemon,
# busctl, strace, tmux, gdbus: the one list a fresh machine gets too; its table is in the
# script, so other areas' system-deps.d/ lists do not rebuild this layer). tini is PID 1: it runs
# the command as its child and reaps the orphans a talk's programs leave behind (a `make bus`
# daemon outlives its make). No systemd runs: the steps, the notebooks and the tests start a
# private dbus-daemon of their own.
COPY tools/system-deps.sh /tmp/deps/
RUN echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/90slim \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates git make procps python3 python3-venv tini \
 && sh /tmp/deps/system-deps.sh core \
 && rm -rf /var/lib/apt/lists/* /tmp/deps \
 && useradd --create-home --uid ${NB_UID} --shell /bin/bash ${NB_USER} \
 && install -d -o ${NB_UID} -g ${NB_UID} ${VENV}

# The venv lives outside the repository, so a dev container's mounted checkout does not hide it.
# This layer is rebuilt only when requirements.txt changes.
# PIP_CERT: the CA bundle pip trusts (default: Debian's). Behind a TLS-inspecting proxy, mount
# its bundle and pass --build-arg PIP_CERT=... (tools/container.py does, from the host's).
USER ${NB_USER}
ARG PIP_CERT=/etc/ssl/certs/ca-certificates.crt
COPY --chown=${NB_UID}:${NB_UID} requirements.txt /tmp/requirements.txt
RUN python3 -m venv ${VENV} \
 && ${VENV}/bin/pip install --no-cache-dir --disable-pip-version-check -q -r /tmp/requirements.txt \
 && touch ${VENV}/.installed

# The repository in ${HOME} (repo2docker's place for it), owned by ${NB_USER}; `make setup`
# then only registers the notebooks' kernel "incoming".
COPY --chown=${NB_UID}:${NB_UID} . ${HOME}
WORKDIR ${HOME}
RUN touch ${VENV}/.installed && make -s setup

# JupyterLab's settings, as `make notebooks` has them (mk/jupyter/: the paired .py files
# hidden, one kernel, no news prompt), for the default command and for Binder's own.
ENV JUPYTER_CONFIG_PATH=${HOME}/mk/jupyter
EXPOSE 8888
ENTRYPOINT ["/usr/bin/tini", "-g", "--"]
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", \
     "--ServerApp.root_dir=notebooks"]
