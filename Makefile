# A fresh machine: `make install`, then `make run` (the demo) and `make test` (what CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint schemas bench clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## install: .venv with controlplane and its dev tools, and Debian's prometheus when missing
install: system-deps $(STAMP)

## run: the whole loop locally (controlplane demo): reconcile, SLO breach, rollback PR, merge
run: install
	$(BIN)/controlplane validate
	$(BIN)/controlplane demo

## lint: ruff, mypy --strict (the package and the tests) and the import-layer contracts
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## system-deps: Debian's prometheus (promtool too), which the demo and the policy tests run
system-deps:
	@command -v promtool >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus; }

## test: lint, schema staleness, the shipped config, then the whole test suite
test: system-deps lint
	$(BIN)/controlplane schemas --check
	$(BIN)/controlplane validate
	$(BIN)/pytest

## bench: the benchmarks whose figures are in benchmarks/README.md
bench: $(STAMP)
	$(BIN)/python benchmarks/plan_bench.py
	$(BIN)/python benchmarks/gateway_bench.py
	$(BIN)/python benchmarks/gateway_bench.py --stream
	$(BIN)/python benchmarks/reconcile_bench.py
	$(BIN)/python benchmarks/policy_bench.py
	$(BIN)/python benchmarks/rollback_bench.py

## schemas: regenerate schemas/ from the models
schemas: $(STAMP)
	$(BIN)/controlplane schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
