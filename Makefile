# kumowatch: `make help` lists the targets.
SHELL := /bin/bash
PY := .venv/bin/python
UV ?= $(shell command -v uv 2>/dev/null || echo "$(PY) -m uv")
SRC := libs/common/src tools/kumomta-sim/src services/poller/src services/alerter/src services/notifier/src services/gateway/src
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test lint format typecheck test-unit test-faults bench bench-quick soak docs check-docs lock images render clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.venv/.stamp: requirements.lock
	@command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	uv venv -q --allow-existing --python 3.11 .venv
	uv pip sync -q --python $(PY) requirements.lock
	@touch $@

venv: .venv/.stamp ## create or update the virtualenv from requirements.lock

run: .venv/.stamp ## start NATS, the KumoMTA simulator and every service (Ctrl-C stops all)
	$(PY) scripts/run.py

test: lint typecheck test-unit ## lint, typecheck and every test (what CI runs)

lint: .venv/.stamp ## ruff check and format check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: .venv/.stamp ## apply ruff fixes and formatting
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

typecheck: .venv/.stamp ## mypy --strict over every package
	.venv/bin/mypy $(SRC)

test-unit: .venv/.stamp
	.venv/bin/pytest -q $(PYTEST_ARGS)

test-faults: .venv/.stamp ## the fault suite only
	.venv/bin/pytest -q -m faults $(PYTEST_ARGS)

bench: .venv/.stamp ## benchmarks: prints the table and writes docs/benchmarks.md
	$(PY) scripts/bench.py

bench-quick: .venv/.stamp ## a CI-sized benchmark run
	$(PY) scripts/bench.py --quick

soak: .venv/.stamp ## 10-minute soak: 10 nodes x 10k queues, RSS growth per service, evaluation lag
	$(PY) scripts/soak.py

docs: .venv/.stamp ## regenerate docs/subjects.md and docs/asyncapi.yaml from the models
	$(PY) scripts/gen_docs.py

check-docs: .venv/.stamp ## fail if the generated docs drifted from the models
	$(PY) scripts/gen_docs.py --check

lock: ## re-resolve dependencies and export requirements.lock
	$(UV) lock
	$(UV) export --all-groups --no-emit-project --frozen --no-header -o requirements.lock

images: ## build the container image (needs a Docker engine)
	docker build -t kumowatch:dev .

render: .venv/.stamp ## render every kustomize overlay into build/rendered/
	$(PY) scripts/render.py

clean: ## remove the virtualenv, runtime data and build output
	rm -rf .venv .data build
