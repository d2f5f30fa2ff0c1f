"""Model: one served model, where it runs and what it costs."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from controlplane.spec.base import (
    Fraction,
    HttpUrl,
    Name,
    ParameterCount,
    PositiveInt,
    Resource,
    SecretRef,
    SpecModel,
    Usd,
)


class Quantization(StrEnum):
    FP16 = "fp16"
    BF16 = "bf16"
    FP8 = "fp8"
    INT8 = "int8"
    INT4 = "int4"

    @property
    def bytes_per_parameter(self) -> float:
        return _BYTES_PER_PARAMETER[self]


_BYTES_PER_PARAMETER = {
    Quantization.FP16: 2.0,
    Quantization.BF16: 2.0,
    Quantization.FP8: 1.0,
    Quantization.INT8: 1.0,
    Quantization.INT4: 0.5,
}


class Framework(StrEnum):
    VLLM = "vllm"
    SGLANG = "sglang"
    TENSORRT_LLM = "tensorrt-llm"
    OLLAMA = "ollama"
    OPENAI_COMPATIBLE = "openai-compatible"
    EXTERNAL_API = "external-api"

    @property
    def self_hosted(self) -> bool:
        """Runs on our GPUs, so it needs a pool; the others are reached at an endpoint."""
        return self not in (Framework.OPENAI_COMPATIBLE, Framework.EXTERNAL_API)


class Task(StrEnum):
    CHAT = "chat"
    EMBEDDING = "embedding"


class Adapter(SpecModel):
    name: Name = Field(description="Adapter name, as the serving framework loads it.")
    uri: str = Field(
        min_length=1, description="Where the adapter weights are, e.g. s3://models/chat-lora-v1/."
    )


class Pricing(SpecModel):
    input_per_1m: Usd = Field(description="USD per 1M input (prompt) tokens.")
    output_per_1m: Usd = Field(description="USD per 1M output (completion) tokens.")


class ModelSpec(SpecModel):
    base_model: str = Field(
        min_length=1,
        description="The base model: a hub id such as meta-llama/Llama-3.1-70B-Instruct, or the "
        "provider's model name for an external API.",
    )
    adapter: Adapter | None = Field(default=None, description="A LoRA adapter on the base model.")
    task: Task = Field(
        default=Task.CHAT,
        description="What the model answers: chat (/v1/chat/completions) or embedding "
        "(/v1/embeddings). The gateway refuses the other endpoint on its routes.",
    )
    quantization: Quantization = Field(
        default=Quantization.BF16, description="Weight precision: fp16, bf16, fp8, int8 or int4."
    )
    framework: Framework = Field(
        description="Serving framework: vllm, sglang, tensorrt-llm, ollama, openai-compatible "
        "(any server with that API) or external-api (a hosted provider)."
    )
    tensor_parallel: PositiveInt = Field(
        default=1, description="GPUs one replica is sharded over (tensor parallel size)."
    )
    replicas: int = Field(default=1, ge=0, description="Number of replicas.")
    pool: Name | None = Field(
        default=None, description="The GpuPool the replicas run on (self-hosted frameworks)."
    )
    max_model_len: PositiveInt | None = Field(
        default=None, description="Longest context, prompt plus output, in tokens."
    )
    endpoint: HttpUrl | None = Field(
        default=None,
        description="OpenAI-compatible base URL the gateway sends requests to, e.g. "
        "http://chat-v1.serving:8000/v1.",
    )
    api_key: SecretRef | None = Field(
        default=None, description="Credential for the endpoint, by reference."
    )
    pricing: Pricing | None = Field(
        default=None,
        description="Token prices, used for cost metrics and budgets. For self-hosted models, "
        "an internal charge-back rate.",
    )
    parameter_count: ParameterCount | None = Field(
        default=None,
        description="Parameters of the base model (e.g. 70B); required on a pool, where it "
        "is used to check that the weights fit in GPU memory.",
    )
    gpu_memory_utilization: Fraction = Field(
        default=0.9,
        description="Share of each GPU's memory the server may use (vLLM's "
        "--gpu-memory-utilization).",
    )
    kv_cache_reserve: Fraction = Field(
        default=0.2,
        description="Share of that usable memory kept free of weights for the KV cache and "
        "activations.",
    )


class Model(Resource):
    KIND: ClassVar[str] = "Model"
    SCOPE: ClassVar[str] = "environment"
    kind: Literal["Model"] = Field(description="Always Model.")
    spec: ModelSpec = Field(description="Weights, serving framework, placement and prices.")
