"""LLM as a judge, the pure parts: which answers are graded, what the judge is asked, how its
reply is read, and the bounded queue that keeps grading off the request path.

A route's `judge` grades `sampleRate` of its successful answers. The draw is a hash of the
request id, so it is the same every time for one request, and a test can know it. Grading is
queued when the answer is given and done later by the gateway's judge workers (`judging`); a
full queue drops the job (and counts it) rather than make a user's request wait.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.gateway.routing import BUCKETS, bucket
from controlplane.gateway.snapshot import Snapshot
from controlplane.spec.route import Judge

QUEUE_SIZE = 64  # graded answers waiting at most; past it, new ones are dropped
WORKERS = 4  # answers graded at once
# The judge sees the end of the conversation and the start of the answer, so a job (and the
# queue) holds a bounded amount of text whatever the request was.
CONVERSATION_CHARS = 20_000
ANSWER_CHARS = 20_000

INSTRUCTIONS = (
    "You grade the answers of an AI assistant against a rubric. Reply with a JSON object and "
    'nothing else: {"score": S}, where S is a number from 0 (the answer fails the rubric) to 1 '
    "(it fully meets the rubric)."
)


def sampled(route: str, request_id: str, rate: float) -> bool:
    """Whether the answer to this request is graded: a hash of the request id, in 10,000
    buckets, below `rate` of them (rate 1: every answer, rate 0: none)."""
    return bucket(route, "judge", request_id) < rate * BUCKETS


def conversation_text(messages: Sequence[Any]) -> str:
    """The conversation as the judge reads it, `role: text` per message, its last
    CONVERSATION_CHARS characters."""
    lines = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):  # parts: the text ones, and a mark for the others
            content = " ".join(
                str(p.get("text", "")) if p.get("type") == "text" else f"[{p.get('type')}]"
                for p in content
                if isinstance(p, dict)
            )
        lines.append(f"{message.get('role')}: {content or ''}")
    return "\n".join(lines)[-CONVERSATION_CHARS:]


def judge_messages(rubric: str, conversation: str, answer: str) -> list[dict[str, str]]:
    """What the judge route is asked."""
    ask = f"Rubric:\n{rubric}\n\nConversation:\n{conversation}\n\nAnswer to grade:\n{answer}"
    return [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": ask}]


_FENCE = re.compile(r"^```[A-Za-z]*\s*|\s*```$")
_OBJECT = re.compile(r"\{[^{}]*\}")


def parse_score(reply: str) -> float | None:
    """The 0..1 score in a judge's reply: the reply as JSON (`{"score": S}` or a bare number,
    code fences allowed), else the one score among the JSON objects it contains. None when
    there is none, several different ones, or one outside 0..1."""
    text = _FENCE.sub("", reply.strip()).strip()
    whole = _score_of(text)
    if whole is not None:
        return whole
    found = {s for m in _OBJECT.finditer(text) if (s := _score_of(m.group())) is not None}
    return found.pop() if len(found) == 1 else None


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _score_of(text: str) -> float | None:
    try:
        value = json.loads(text, parse_constant=_not_json)
    except ValueError:
        return None
    if isinstance(value, dict):
        value = value.get("score")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 1 else None


@dataclass(frozen=True)
class JudgeJob:
    """One answer to grade: what was asked and answered, with the judged request's labels, the
    route's judge, and the configuration the request saw."""

    request_id: str
    labels: Mapping[str, str]  # route, variant, model of the judged request
    judge: Judge
    conversation: str
    answer: str
    snapshot: Snapshot


class JudgeQueue:
    """Answers waiting to be graded, at most `size` of them; made when the gateway starts (an
    asyncio queue belongs to the event loop that uses it)."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self._queue: asyncio.Queue[JudgeJob] = asyncio.Queue(size)

    def offer(self, job: JudgeJob) -> bool:
        """Queue the job, or say False at once when the queue is full: never wait."""
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            return False
        return True

    async def take(self) -> JudgeJob:
        return await self._queue.get()

    def __len__(self) -> int:
        return self._queue.qsize()
