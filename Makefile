# Two commands set a fresh machine up: `make run` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint schemas bench clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: validate the shipped config, then apply environments/dev to a local embedded gateway
run: $(STAMP)
	bash scripts/run-local.sh

## lint: ruff, mypy --strict and the import-layer contracts
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy controlplane
	$(BIN)/lint-imports

## system-deps: Debian's prometheus (promtool too), which the policy tests run for real
system-deps:
	@command -v promtool >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

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
