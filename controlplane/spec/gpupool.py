"""GpuPool: a set of identical GPU nodes that models are placed on."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from controlplane.spec.base import PositiveInt, Resource, SpecModel, Usd


class GpuPoolSpec(SpecModel):
    accelerator: str = Field(
        min_length=1, description="Accelerator type, e.g. nvidia-h100-80gb or nvidia-l4."
    )
    gpu_memory_gib: float = Field(gt=0, description="Memory of one GPU, in GiB.")
    gpus_per_node: PositiveInt = Field(description="GPUs in one node.")
    min_nodes: int = Field(default=0, ge=0, description="Nodes kept running at all times.")
    max_nodes: PositiveInt = Field(description="Most nodes the pool may grow to.")
    price_per_gpu_hour: Usd = Field(description="Cost of one GPU for one hour, in USD.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Node labels that select this pool's nodes."
    )

    @property
    def max_gpus(self) -> int:
        return self.max_nodes * self.gpus_per_node


class GpuPool(Resource):
    KIND: ClassVar[str] = "GpuPool"
    SCOPE: ClassVar[str] = "environment"
    kind: Literal["GpuPool"] = Field(description="Always GpuPool.")
    spec: GpuPoolSpec = Field(description="Accelerator, size and price of the pool.")
