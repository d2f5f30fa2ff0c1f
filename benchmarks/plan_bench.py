"""Benchmark: plan time and peak memory for 1k and 10k resources, beside a bare YAML parse.

Generates a config of N resources (pools, models, guardrails, budgets, routes) in files of 50
documents, then times, in one process and side by side:
  - parse only: PyYAML's C loader (yaml.CSafeLoader) over the same files, nothing else;
  - compute_plan alone, against a live state where 10% of the resources differ;
  - the whole `controlplane plan` pipeline: load (with positions), validate, compute_plan.
Peak memory is tracemalloc's peak of the whole pipeline, measured in a separate pass.

Run: .venv/bin/python benchmarks/plan_bench.py [--sizes 1000 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from controlplane import engine
from controlplane.plan import compute_plan, simulate
from controlplane.spec import DesiredState, LiveState
from controlplane.validate import validate_config

HEADER = "apiVersion: controlplane.dev/v1alpha1\n"


def generate(root: Path, n: int) -> None:
    env = root / "environments" / "bench"
    env.mkdir(parents=True)
    (root / "policies").mkdir()
    (env / "environment.yaml").write_text(
        HEADER + "kind: Environment\nmetadata: {name: bench}\nspec:\n  prune: true\n"
        "  targets: [{type: gateway, url: 'http://127.0.0.1:4000', token: 'env:TOKEN'}]\n"
    )
    pools = max(n // 100, 1)
    models = routes = (n - pools) * 2 // 5
    guardrails = (n - pools - models - routes) // 2
    budgets = n - pools - models - routes - guardrails
    docs: list[str] = []
    docs += [
        f"kind: GpuPool\nmetadata: {{name: pool-{i}}}\nspec:\n  accelerator: nvidia-h100\n"
        f"  gpuMemoryGib: 80\n  gpusPerNode: 8\n  maxNodes: 1000\n  pricePerGpuHour: 4.1\n"
        for i in range(pools)
    ]
    docs += [
        f"kind: Model\nmetadata: {{name: model-{i}, labels: {{team: t{i % 7}}}}}\nspec:\n"
        f"  baseModel: org/model-{i}\n  parameterCount: 8B\n  quantization: bf16\n"
        f"  framework: vllm\n  tensorParallel: 1\n  replicas: 1\n  pool: pool-{i % pools}\n"
        f"  endpoint: http://model-{i}.svc:8000/v1\n"
        f"  pricing: {{inputPer1M: 0.1, outputPer1M: 0.3}}\n"
        for i in range(models)
    ]
    docs += [
        f"kind: Guardrail\nmetadata: {{name: guard-{i}}}\nspec:\n  type: pii\n"
        f"  stage: input\n  action: redact\n  entities: [email, phone]\n"
        for i in range(guardrails)
    ]
    docs += [
        f"kind: Budget\nmetadata: {{name: budget-{i}}}\nspec:\n"
        f"  scope: {{type: route, name: route-{i % routes}}}\n  period: month\n"
        f"  limitUsd: 1000\n  thresholds: [{{percent: 80, action: notify}}]\n"
        for i in range(budgets)
    ]
    docs += [
        f"kind: Route\nmetadata: {{name: route-{i}}}\nspec:\n  model: model-{i}\n"
        f"  fallbacks: [model-{(i + 1) % models}]\n  guardrails: [guard-{i % guardrails}]\n"
        f"  canary: {{model: model-{(i + 2) % models}, percent: 5}}\n"
        f"  rateLimits: {{requestsPerMinute: 600}}\n"
        for i in range(routes)
    ]
    for start in range(0, len(docs), 50):
        chunk = docs[start : start + 50]
        (env / f"resources-{start // 50:04d}.yaml").write_text(
            "---\n".join(HEADER + d for d in chunk)
        )


def pipeline(root: Path, live: LiveState) -> Any:
    result = validate_config(engine.load(root))
    assert result.ok, result.problems[:3]
    return compute_plan(result.states["bench"], live)


def drifted_live(state: DesiredState) -> LiveState:
    """What the target holds: the desired state with every tenth model at another size."""
    models = tuple(
        m.model_copy(update={"spec": m.spec.model_copy(update={"replicas": 2})})
        if i % 10 == 0
        else m
        for i, m in enumerate(state.models)
    )
    empty = LiveState(resources=())
    return simulate(compute_plan(replace(state, models=models), empty), empty)


def best_of(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(n: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root, n)
        files = sorted(root.rglob("*.yaml"))
        texts = [f.read_text() for f in files]
        state = validate_config(engine.load(root)).states["bench"]
        live = drifted_live(state)
        count = len(state.resources())

        parse = best_of(
            repeat, lambda: [list(yaml.load_all(t, Loader=yaml.CSafeLoader)) for t in texts]
        )
        plan_only = best_of(repeat, lambda: compute_plan(state, live))
        whole = best_of(repeat, lambda: pipeline(root, live))
        changes = len(compute_plan(state, live).changes)
        tracemalloc.start()
        pipeline(root, live)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "resources": count,
        "changes": changes,
        "parse": parse,
        "plan": plan_only,
        "pipeline": whole,
        "peak_mib": peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        "| resources | changes | C parse only | compute_plan | ratio | load+validate+plan | "
        "ratio | peak memory |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        r = measure(n, args.repeat)
        print(
            f"| {r['resources']:,} | {r['changes']:,} | {r['parse'] * 1000:.0f} ms | "
            f"{r['plan'] * 1000:.0f} ms | {r['plan'] / r['parse']:.2f}× | "
            f"{r['pipeline'] * 1000:.0f} ms | {r['pipeline'] / r['parse']:.1f}× | "
            f"{r['peak_mib']:.0f} MiB |",
            flush=True,
        )


if __name__ == "__main__":
    main()
