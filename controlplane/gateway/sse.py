"""Server-sent events as OpenAI's streaming chat API sends them."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

# Replayed answers go out a few words per event, as a model would send them.
_PIECES = re.compile(r"\S+\s*|\s+")
WORDS_PER_EVENT = 4


def event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def completion_events(data: dict[str, Any], wants_usage: bool) -> AsyncIterator[bytes]:
    """A whole chat completion (from the cache or the cascade) as the chunks a stream of it
    would have been: the role, the content a few words at a time, the finish, the usage."""
    head = {
        "id": data.get("id", "chatcmpl-replay"),
        "object": "chat.completion.chunk",
        "created": data.get("created", 0),
        "model": data.get("model", ""),
    }
    for choice in data.get("choices") or []:
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        content = str(message.get("content") or "")
        words = _PIECES.findall(content)
        yield event({**head, "choices": [{"index": index, "delta": {"role": "assistant"}}]})
        for start in range(0, len(words), WORDS_PER_EVENT):
            piece = "".join(words[start : start + WORDS_PER_EVENT])
            yield event({**head, "choices": [{"index": index, "delta": {"content": piece}}]})
        finish = choice.get("finish_reason") or "stop"
        yield event({**head, "choices": [{"index": index, "delta": {}, "finish_reason": finish}]})
    if wants_usage and isinstance(data.get("usage"), dict):
        yield event({**head, "choices": [], "usage": data["usage"]})
    yield b"data: [DONE]\n\n"
