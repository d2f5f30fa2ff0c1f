"""The steps every pull request controlplane opens goes through, rollback or promotion: validate
the edited folder (nothing is pushed that does not validate), plan it against the live targets
for the body, and open it with labels and reviewers (best effort once it is open)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from controlplane.engine.config import desired_state
from controlplane.engine.planning import plan_targets
from controlplane.errors import ControlPlaneError, InvalidConfig, TargetError
from controlplane.forge import Forge, PullRequest
from controlplane.render import render_plan_markdown
from controlplane.spec import DesiredState
from controlplane.spec.environment import ForgeConfig
from controlplane.targets import Target

log = logging.getLogger("controlplane.pull_requests")


def validated(folder: Path, environment: str, what: str) -> DesiredState:
    """The environment as the edited folder has it; InvalidConfig saying nothing was pushed."""
    try:
        return desired_state(folder, environment)
    except InvalidConfig as exc:
        raise InvalidConfig(
            exc.problems,
            f"the {what} does not validate, so it was not pushed:\n" + exc.report.strip(),
        ) from exc


def plan_markdown(desired: DesiredState, targets: Callable[[DesiredState], list[Target]]) -> str:
    """What merging changes on the live targets, or why that cannot be said now."""
    try:
        planned = plan_targets(desired, targets(desired))
    except (ControlPlaneError, TargetError) as exc:
        return f"_The live state could not be read, so there is no plan: {exc}_"
    return "\n".join(render_plan_markdown(p.plan) for p in planned)


def open_pull_request(
    forge: Forge,
    forge_config: ForgeConfig,
    branch: str,
    base: str,
    title: str,
    body: str,
    labels: list[str],
    extra: dict[str, str],
) -> PullRequest:
    """Open it; then labels and reviewers, whose failure is logged (the PR is open)."""
    pull = forge.create_pull_request(branch, base, title, body)
    try:
        forge.add_labels(pull.number, labels)
        if forge_config.reviewers:
            forge.request_reviewers(pull.number, list(forge_config.reviewers))
    except ControlPlaneError as exc:
        log.warning("pull request #%d: %s", pull.number, exc, extra=extra)
    return pull


def write_pull_request(out_dir: Path, branch: str, text: str) -> Path:
    """Dry run: the pull request as one Markdown file, named after its branch."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (branch.replace("/", "_") + ".md")
    path.write_text(text, encoding="utf-8")
    return path
