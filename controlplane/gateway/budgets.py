"""USD budgets in the data plane: what each request adds, and what that allows next.

Spend is counted when a request finishes, from the serving model's prices, into every budget
whose scope the request matches (its consumer, team, route and model). Before a request, the
budgets it matches say whether it may go on: a `block` threshold that is reached answers 429
until the period resets; a `throttle` threshold halves the rate limits; a `notify` threshold is
reported once per period (a metric and a log event).

Overshoot: a request is admitted on the spend of requests that have finished, so requests in
flight when a limit is reached still finish and count. The overshoot is at most the cost of the
requests admitted before the limit was reached and not yet finished.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from controlplane.spec import Budget
from controlplane.spec.budget import BudgetAction, Period, ScopeType

log = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class Usage:
    """What a request is: who asked, on which route and model."""

    consumer: str
    team: str | None
    route: str
    model: str

    def matches(self, budget: Budget) -> bool:
        scope = budget.spec.scope
        value = {
            ScopeType.CONSUMER: self.consumer,
            ScopeType.TEAM: self.team,
            ScopeType.ROUTE: self.route,
            ScopeType.MODEL: self.model,
        }[scope.type]
        return value == scope.name


def period_bounds(period: Period, now: float) -> tuple[float, float]:
    """The UTC day or month holding `now`, as (start, end) timestamps."""
    moment = datetime.fromtimestamp(now, UTC)
    if period is Period.DAY:
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start.timestamp() + 86_400
        return start.timestamp(), end
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.timestamp(), following.timestamp()


@dataclass(frozen=True)
class Verdict:
    """What the budgets a request matches allow: blocked (with the budget that blocks and when
    it resets), throttled, and the notify thresholds newly crossed."""

    blocked_by: Budget | None = None
    resets_at: float = 0.0
    throttled_by: Budget | None = None

    def message(self) -> str:
        assert self.blocked_by is not None
        spec = self.blocked_by.spec
        reset = datetime.fromtimestamp(self.resets_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"budget {self.blocked_by.name!r} ({spec.scope.type.value} {spec.scope.name}, "
            f"${spec.limit_usd:g} per {spec.period.value}) is spent; it resets at {reset}"
        )


class SpendLedger:
    """Spend per budget and period, in memory, saved to a file when one is given."""

    def __init__(self, path: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._path = path
        self._spent: dict[str, float] = {}  # "budget@period-start" -> USD
        self._notified: set[str] = set()
        self._saved = 0.0
        self._load()

    def _key(self, budget: Budget) -> str:
        start, _ = period_bounds(budget.spec.period, self._clock())
        return f"{budget.name}@{int(start)}"

    def spent(self, budget: Budget) -> float:
        return self._spent.get(self._key(budget), 0.0)

    def share(self, budget: Budget) -> float:
        """Percent of the limit spent this period (infinite for a zero limit once spent)."""
        limit = budget.spec.limit_usd
        spent = self.spent(budget)
        if limit == 0:
            return float("inf") if spent > 0 else 0.0
        return 100.0 * spent / limit

    def verdict(self, budgets: Iterable[Budget], usage: Usage) -> Verdict:
        blocked: Budget | None = None
        throttled: Budget | None = None
        for budget in budgets:
            if not usage.matches(budget):
                continue
            share = self.share(budget)
            reached = [t.action for t in budget.spec.thresholds if share >= t.percent]
            if BudgetAction.BLOCK in reached and blocked is None:
                blocked = budget
            if BudgetAction.THROTTLE in reached and throttled is None:
                throttled = budget
        if blocked is not None:
            _, end = period_bounds(blocked.spec.period, self._clock())
            return Verdict(blocked, end, throttled)
        return Verdict(throttled_by=throttled)

    def add(
        self, budgets: Iterable[Budget], usage: Usage, usd: float
    ) -> Iterator[tuple[Budget, float]]:
        """Count `usd` into every matching budget; yields the notify thresholds it crossed."""
        if usd <= 0:
            return
        for budget in budgets:
            if not usage.matches(budget):
                continue
            key = self._key(budget)
            self._spent[key] = self._spent.get(key, 0.0) + usd
            share = self.share(budget)
            for threshold in budget.spec.thresholds:
                mark = f"{key}:{threshold.percent:g}"
                if (
                    threshold.action is BudgetAction.NOTIFY
                    and share >= threshold.percent
                    and mark not in self._notified
                ):
                    self._notified.add(mark)
                    yield budget, threshold.percent
        if self._clock() - self._saved >= SAVE_EVERY_SECONDS:
            self.save()

    def save(self) -> None:
        if self._path is None:
            return
        self._saved = self._clock()
        body = {"spent": self._spent, "notified": sorted(self._notified)}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=self._path.parent, delete=False, prefix=f".{self._path.name}.", suffix=".tmp"
        ) as tmp:
            json.dump(body, tmp)
        os.replace(tmp.name, self._path)

    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        try:
            body = json.loads(self._path.read_text(encoding="utf-8"))
            self._spent = {str(k): float(v) for k, v in body["spent"].items()}
            self._notified = {str(m) for m in body["notified"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Losing spend is better than refusing to serve; say so loudly.
            log.error(
                "cannot read the spend file %s (%s); budgets start from zero", self._path, exc
            )
