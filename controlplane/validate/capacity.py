"""GPU placement: models fit in their pool's GPUs, and their weights fit in GPU memory."""

from __future__ import annotations

from collections.abc import Iterator

from controlplane.errors import Problem, Rule
from controlplane.spec import GpuPool, Model
from controlplane.spec.model import Framework
from controlplane.validate.structure import Located

GIB = 2**30


def check_placement(pools: list[Located], models: list[Located]) -> Iterator[Problem]:
    by_name = {p.resource.name: p for p in pools if isinstance(p.resource, GpuPool)}
    for located in models:
        model = located.resource
        assert isinstance(model, Model)
        spec = model.spec
        if spec.framework is Framework.EXTERNAL_API:
            if spec.pool is not None:
                yield located.problem(
                    ("spec", "pool"),
                    f"pool {spec.pool!r} on an external-api model",
                    "no pool: a hosted provider runs on its own hardware",
                    Rule.PLACEMENT,
                )
            if spec.endpoint is None:
                yield located.problem(
                    ("spec",), "no endpoint", "an endpoint URL for the external API", Rule.PLACEMENT
                )
            continue
        if spec.pool is None:
            if spec.framework.self_hosted:
                yield located.problem(
                    ("spec", "pool"),
                    f"no pool for a {spec.framework.value} model",
                    "the name of the GpuPool its replicas run on",
                    Rule.PLACEMENT,
                )
            elif spec.endpoint is None:
                yield located.problem(
                    ("spec",),
                    "neither a pool nor an endpoint",
                    "an endpoint URL of the OpenAI-compatible server",
                    Rule.PLACEMENT,
                )
            continue
        pool = by_name.get(spec.pool)
        if pool is None:
            continue  # reported as a dangling reference
        assert isinstance(pool.resource, GpuPool)
        yield from _check_fit(located, model, pool.resource)
    yield from _check_pool_capacity(by_name, models)


def _check_fit(located: Located, model: Model, pool: GpuPool) -> Iterator[Problem]:
    spec, pool_spec = model.spec, pool.spec
    if spec.tensor_parallel > pool_spec.gpus_per_node:
        yield located.problem(
            ("spec", "tensorParallel"),
            f"tensorParallel {spec.tensor_parallel}",
            f"at most {pool_spec.gpus_per_node}, the GPUs per node of pool {pool.name!r}: "
            "tensor parallelism does not span nodes",
            Rule.CAPACITY,
        )
    if spec.parameter_count is None:
        yield located.problem(
            ("spec", "parameterCount"),
            "no parameterCount",
            "the parameter count (e.g. 70B), to check the weights fit in GPU memory",
            Rule.MEMORY_FIT,
        )
        return
    bytes_per_parameter = spec.quantization.bytes_per_parameter
    weights = spec.parameter_count * bytes_per_parameter / GIB
    usable = _usable_gib(spec.tensor_parallel, pool_spec.gpu_memory_gib, model)
    if weights <= usable:
        return
    hint = _smallest_fitting_tp(weights, pool_spec.gpu_memory_gib, pool_spec.gpus_per_node, model)
    advice = f"; tensorParallel {hint} would fit" if hint else ""
    yield located.problem(
        ("spec", "tensorParallel"),
        f"weights of {weights:.1f} GiB ({_count(spec.parameter_count)} parameters × "
        f"{bytes_per_parameter:g} bytes at {spec.quantization.value})",
        f"at most {usable:.1f} GiB: tensorParallel {spec.tensor_parallel} × "
        f"{pool_spec.gpu_memory_gib:g} GiB ({pool.name}) × {spec.gpu_memory_utilization:g} "
        f"utilization, less {spec.kv_cache_reserve:.0%} kept for the KV cache{advice}",
        Rule.MEMORY_FIT,
    )


def _usable_gib(tensor_parallel: int, gpu_memory_gib: float, model: Model) -> float:
    spec = model.spec
    return (
        tensor_parallel * gpu_memory_gib * spec.gpu_memory_utilization * (1 - spec.kv_cache_reserve)
    )


def _smallest_fitting_tp(
    weights: float, gpu_memory_gib: float, gpus_per_node: int, model: Model
) -> int | None:
    tp = 1
    while tp <= gpus_per_node:
        if weights <= _usable_gib(tp, gpu_memory_gib, model):
            return tp
        tp *= 2
    return None


def _check_pool_capacity(pools: dict[str, Located], models: list[Located]) -> Iterator[Problem]:
    for name, located in sorted(pools.items()):
        pool = located.resource
        assert isinstance(pool, GpuPool)
        users = [
            m.resource
            for m in models
            if isinstance(m.resource, Model) and m.resource.spec.pool == name
        ]
        needed = sum(m.spec.tensor_parallel * m.spec.replicas for m in users)
        if needed <= pool.spec.max_gpus:
            continue
        detail = ", ".join(f"{m.name} {m.spec.tensor_parallel}×{m.spec.replicas}" for m in users)
        yield located.problem(
            ("spec", "maxNodes"),
            f"models needing {needed} GPUs (tensorParallel × replicas: {detail})",
            f"at most {pool.spec.max_gpus} GPUs: maxNodes {pool.spec.max_nodes} × gpusPerNode "
            f"{pool.spec.gpus_per_node}",
            Rule.CAPACITY,
        )


def _count(parameters: int) -> str:
    for suffix, size in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if parameters >= size:
            return f"{parameters / size:g}{suffix}"
    return str(parameters)
