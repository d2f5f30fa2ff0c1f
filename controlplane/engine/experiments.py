"""Experiments composed: the desired state that holds one, when it went live (from the apply
history), its evidence from the environment's Prometheus, and the analysis.

An experiment's start is kept in the history's canary-start table under the experiment's route,
keyed by `experiment_identity` (a digest no canary configuration has): the first time its
configuration is seen live it takes the finish time of the apply that is live now, as a canary's
start does (engine/canaries.py), so evidence never reaches back before it was served.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from controlplane.engine.config import desired_state, validate
from controlplane.engine.connect import dialect_for, metric_source_for
from controlplane.errors import ConfigError, InvalidConfig, UsageError
from controlplane.history import History
from controlplane.history.records import Attempt
from controlplane.policy import MetricSource
from controlplane.policy.experiment import (
    ExperimentReport,
    evaluate_experiment,
    experiment_identity,
)
from controlplane.prometheus import BatchingSource
from controlplane.render import render_validation_text
from controlplane.spec import DesiredState, Experiment


def find_experiment(state: DesiredState, name: str) -> Experiment | None:
    """The Experiment named `name` among those that run in the state's environment."""
    return next((e for e in state.experiments if e.name == name), None)


def experiment_state(
    root: Path, name: str, environment: str | None = None, rev: str | None = None
) -> DesiredState:
    """The validated desired state of the environment experiment `name` runs in: the one
    named, or the only one it selects. ConfigError when there is none, UsageError when it runs
    in several and none was named."""
    if environment is not None:
        state = desired_state(root, environment, rev)
        if find_experiment(state, name) is None:
            raise ConfigError(f"no Experiment {name!r} runs in environment {environment!r}")
        return state
    chosen, result = validate(root, (), rev)
    found = [e for e in chosen if e in result.states and find_experiment(result.states[e], name)]
    if len(found) > 1:
        raise UsageError(
            f"Experiment {name!r} runs in {', '.join(found)}: pass --environment to choose one"
        )
    if found:
        return desired_state(root, found[0], rev)
    if not result.ok:  # it may be in an environment that does not validate: say why
        raise InvalidConfig(result.problems, render_validation_text(result, chosen))
    raise ConfigError(f"no Experiment {name!r} in any environment")


def experiment_start(
    history: History,
    state: DesiredState,
    experiment: Experiment,
    live: Attempt | None,
    now: datetime,
) -> datetime:
    """When the experiment's current configuration went live: as recorded, or the finish time
    of the live apply (recorded now) when it is first seen."""
    went_live = (live.finished_at if live else None) or now
    route = experiment.spec.route
    identity = experiment_identity(state, experiment)
    return history.canary_starts(state.name, {route: identity}, went_live)[route]


def experiment_report(
    state: DesiredState,
    name: str,
    source: MetricSource,
    at: datetime,
    started: datetime | None = None,
) -> ExperimentReport:
    """Experiment `name` of the state's environment at `at`, on the evidence since `started`
    (None: the experiment's horizon before `at`). ConfigError when there is no such experiment."""
    experiment = find_experiment(state, name)
    if experiment is None:
        raise ConfigError(f"no Experiment {name!r} runs in environment {state.name!r}")
    return evaluate_experiment(
        experiment, dialect_for(state.environment), source, state.name, at, started
    )


def live_experiment_report(
    history: History, repo: Path, environment: str, name: str, at: datetime
) -> ExperimentReport | None:
    """What `serve` answers: the experiment as the commit live in `environment` defines it,
    on the evidence since it went live (recorded in the history), from the environment's
    Prometheus. None when the live commit has no such experiment there; ConfigError when
    nothing was applied yet or the environment has no Prometheus."""
    live = history.last_success(environment)
    if live is None:
        raise ConfigError(f"nothing has been applied to environment {environment!r} yet")
    state = desired_state(repo, environment, live.commit_sha)
    experiment = find_experiment(state, name)
    if experiment is None:
        return None
    source = metric_source_for(state.environment)
    if source is None:
        raise ConfigError(f"environment {environment!r} has no prometheus.url")
    try:
        started = experiment_start(history, state, experiment, live, at)
        return experiment_report(state, name, source, at, started)
    finally:
        _close(source)


def _close(source: MetricSource) -> None:
    if isinstance(source, BatchingSource):
        source.inner.close()
