# syntax=docker/dockerfile:1
# One image for every kumowatch service; the container's command selects the service:
#   kumowatch-poller | kumowatch-alerter | kumowatch-notifier | kumowatch-gateway | kumowatch-sim
# Build: `make images` (docker build -t kumowatch:dev .). See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# builder: a virtualenv in /opt/kumowatch with the workspace members installed non-editable.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never

RUN pip install "uv>=0.5,<1" \
 && uv venv /opt/kumowatch --python /usr/local/bin/python3.11

WORKDIR /src

# The members, in install order; the package directory of each is src/kumowatch_<suffix>.
ARG MEMBERS="libs/common:common tools/kumomta-sim:sim services/poller:poller services/alerter:alerter services/notifier:notifier services/gateway:gateway"

# Dependency layer: only the lock and the members' metadata, so editing source code does not
# invalidate it. requirements.lock lists the members as `-e ./libs/common` and also holds the
# dev group (pytest, ruff, mypy, ...): the members' runtime dependency closure is resolved with
# the rest of the lock as constraints (pinned versions and hashes), so no dev tool is installed.
# Empty package stubs let the build backend build the members' metadata here; the real sources
# replace them in the next layer.
COPY requirements.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY tools/kumomta-sim/pyproject.toml tools/kumomta-sim/
COPY services/poller/pyproject.toml services/poller/
COPY services/alerter/pyproject.toml services/alerter/
COPY services/notifier/pyproject.toml services/notifier/
COPY services/gateway/pyproject.toml services/gateway/
RUN set -eu; \
    dirs=""; \
    for m in $MEMBERS; do \
      dir="${m%%:*}"; pkg="$dir/src/kumowatch_${m##*:}"; \
      mkdir -p "$pkg" && touch "$pkg/__init__.py"; \
      dirs="$dirs ./$dir"; \
    done; \
    grep -v '^-e ' requirements.lock > /tmp/constraints.txt; \
    uv pip install --python /opt/kumowatch/bin/python --constraint /tmp/constraints.txt $dirs

# Source layer: the members themselves, non-editable, without touching the dependencies.
COPY libs/common/src libs/common/src
COPY tools/kumomta-sim/src tools/kumomta-sim/src
COPY services/poller/src services/poller/src
COPY services/alerter/src services/alerter/src
COPY services/notifier/src services/notifier/src
COPY services/gateway/src services/gateway/src
RUN set -eu; \
    dirs=""; \
    for m in $MEMBERS; do dirs="$dirs ./${m%%:*}"; done; \
    uv pip install --python /opt/kumowatch/bin/python --no-cache --no-deps --reinstall $dirs \
 && /opt/kumowatch/bin/python -c "import kumowatch_common, kumowatch_sim, kumowatch_poller, kumowatch_alerter, kumowatch_notifier, kumowatch_gateway"

# ---------------------------------------------------------------------------------------------
# runtime: the interpreter, the virtualenv, a non-root user. No uv, no pip, no compiler.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="kumowatch" \
      org.opencontainers.image.description="kumowatch: monitoring and alerting for KumoMTA (all services)"

RUN python -m pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null || true; \
    groupadd --system --gid 10001 kumowatch \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin kumowatch

COPY --from=builder /opt/kumowatch /opt/kumowatch

ENV PATH=/opt/kumowatch/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HTTP_HOST=0.0.0.0

USER 10001:10001
EXPOSE 3001 3002 3003 3004

# The Kubernetes manifests set `command:` per Deployment; this default runs the gateway.
CMD ["kumowatch-gateway"]
