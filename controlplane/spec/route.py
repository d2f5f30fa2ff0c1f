"""Route: the public model name clients call, and how its traffic is split."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from controlplane.spec.base import (
    Duration,
    Fraction,
    Name,
    Percent,
    PositiveInt,
    Resource,
    SpecModel,
)


class Variant(SpecModel):
    name: Name = Field(description="Arm name, used in metrics as the variant label.")
    model: Name = Field(description="The Model this arm serves.")
    weight: Percent = Field(description="Percent of the route's non-canary traffic.")


class Canary(SpecModel):
    model: Name = Field(description="The Model under test.")
    percent: Percent = Field(description="Percent of traffic sent to the canary, 0 to 100.")
    steps: list[Annotated[float, Field(gt=0, le=100)]] = Field(
        default_factory=list,
        max_length=20,
        description="Progressive delivery: the percents the canary goes through, ascending, e.g. "
        "[10, 50, 100]; `percent` is one of them (or 0: stopped, as a rollback leaves it). "
        "When the route's CanaryAnalysis passes at a step, a promotion pull request moves the "
        "percent to the next step; from the last step "
        "it makes the canary the route's model (at 100%, where there is no baseline left to "
        "compare with, once the step has baked with no policy failing on the route). Empty: no "
        "promotion pull requests.",
    )
    bake_time: Duration = Field(
        default=timedelta(minutes=10),
        description="Least time the canary stays at a step, counted from when that step went "
        "live, before a promotion pull request is opened.",
    )
    auto_merge: bool = Field(
        default=False,
        description="Merge promotion pull requests through the forge as soon as they are "
        "opened (git stays the truth; the reconciler applies the merge). Off: a human merges.",
    )

    @property
    def next_step(self) -> tuple[float, bool] | None:
        """Where the next promotion goes: (percent, final). Final, from the last step: the
        canary becomes the route's model. None without steps or off them."""
        if self.percent not in self.steps:
            return None
        later = [step for step in self.steps if step > self.percent]
        return (later[0], False) if later else (100.0, True)


class Stickiness(SpecModel):
    key: str = Field(
        pattern=r"^(user|header:[A-Za-z0-9-]+)$",
        description="What keeps one caller in one arm: 'user' (the request's user field) or "
        "'header:NAME'.",
    )


class Cascade(SpecModel):
    fast: Name = Field(description="The cheap Model tried first.")
    strong: Name = Field(description="The Model asked when the fast one is not confident.")
    confidence: Fraction = Field(
        description="Confidence below which the strong model answers instead."
    )


class Cache(SpecModel):
    enabled: bool = Field(default=False, description="Serve repeated prompts from a cache.")
    shared: bool = Field(
        default=False,
        description="Share answers between consumers; by default each team (or consumer "
        "without a team) has its own entries.",
    )
    max_temperature: Annotated[float, Field(ge=0, le=2)] = Field(
        default=0.0,
        description="Only requests at most this random are cached or answered from the cache "
        "(a request without temperature counts as 1.0, OpenAI's default).",
    )
    similarity_threshold: Fraction = Field(
        default=1.0,
        description="1.0 caches exact prompts only; below 1.0 is a semantic cache that answers "
        "prompts at least this similar.",
    )
    ttl: Duration = Field(
        default=timedelta(hours=1), description="How long an answer stays cached."
    )


class RateLimits(SpecModel):
    requests_per_minute: PositiveInt | None = Field(
        default=None, description="Requests per minute per consumer."
    )
    tokens_per_minute: PositiveInt | None = Field(
        default=None, description="Input plus output tokens per minute per consumer."
    )

    @property
    def configured(self) -> bool:
        return self.requests_per_minute is not None or self.tokens_per_minute is not None


class Judge(SpecModel):
    route: Name = Field(
        description="The Route whose model grades the answers (another route than this one)."
    )
    rubric: str = Field(
        min_length=1,
        description="What a good answer is. The judge is asked for a score from 0 (fails the "
        "rubric) to 1 (fully meets it), as JSON.",
    )
    sample_rate: Fraction = Field(
        description="Share of successful answers graded, 0 to 1, drawn by a hash of the "
        "request id; graded off the request path."
    )


class RouteSpec(SpecModel):
    model: Name = Field(description="The default (stable) Model; the baseline of a canary.")
    variants: list[Variant] = Field(
        default_factory=list,
        description="A/B arms splitting the non-canary traffic; weights sum to 100. Empty: all "
        "of it goes to the default model.",
    )
    canary: Canary | None = Field(default=None, description="A canary model and its percent.")
    stickiness: Stickiness | None = Field(
        default=None, description="Keep each caller in one arm by hashing this key."
    )
    fallbacks: list[Name] = Field(
        default_factory=list,
        description="Models tried in order when the chosen one errors or times out.",
    )
    cascade: Cascade | None = Field(
        default=None, description="Try a fast model first and escalate when unsure."
    )
    guardrails: list[Name] = Field(
        default_factory=list, description="Guardrails applied to this route, in order."
    )
    cache: Cache = Field(default_factory=Cache, description="Response cache.")
    rate_limits: RateLimits = Field(
        default_factory=RateLimits,
        description="Per-consumer limits on this route; a request over them gets 429.",
    )
    anonymous: bool = Field(
        default=False,
        description="Serve requests without a consumer key (they share one rate-limit count). "
        "By default a request needs the key of a Consumer allowed on the route.",
    )
    timeout: Duration = Field(
        default=timedelta(seconds=60),
        description="Upstream timeout, after which fallbacks are tried.",
    )
    first_token_timeout: Duration | None = Field(
        default=None,
        description="For streamed requests: when the model sends no token within this time, "
        "the next model is tried, before any byte reaches the client.",
    )
    judge: Judge | None = Field(
        default=None,
        description="Grade a sample of the answers with another route's model (LLM as a "
        "judge), in the background; scores are llm_gateway_judge_score.",
    )


class Route(Resource):
    KIND: ClassVar[str] = "Route"
    SCOPE: ClassVar[str] = "environment"
    kind: Literal["Route"] = Field(description="Always Route.")
    spec: RouteSpec = Field(description="Default model, variants, canary and request policy.")

    def model_refs(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every Model this route names, with the field path that names it."""
        spec = self.spec
        refs: list[tuple[tuple[str | int, ...], str]] = [(("spec", "model"), spec.model)]
        refs += [(("spec", "variants", i, "model"), v.model) for i, v in enumerate(spec.variants)]
        if spec.canary is not None:
            refs.append((("spec", "canary", "model"), spec.canary.model))
        refs += [(("spec", "fallbacks", i), name) for i, name in enumerate(spec.fallbacks)]
        if spec.cascade is not None:
            refs.append((("spec", "cascade", "fast"), spec.cascade.fast))
            refs.append((("spec", "cascade", "strong"), spec.cascade.strong))
        return refs
