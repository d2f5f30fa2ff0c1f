"""The engine: the one package that composes the pure core with the adapters.

Desired state from a config repository (`desired_state`, `validate`), plans per target
(`plan_targets`, `plans_as_if_applied`), the apply executors (`apply_plan`, `dry_run`), adapters
built from an Environment (`targets_for`, `forge_for`, `metric_source_for`, always batched), and
remediation (`Rollbacker`, `rollback_now`), and notifications (`Notifier` and the event
constructors). The CLI, the reconciler, the policy runner and the
API call these, and compose nothing of the kind themselves.

Names load on first use (PEP 562): `controlplane validate` should not pay for SQLAlchemy, the
forge clients and the Prometheus client, which only remediation and serving need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers; at run time, __getattr__ below loads each on first use
    from controlplane.engine.canaries import canary_starts as canary_starts
    from controlplane.engine.config import desired_state as desired_state
    from controlplane.engine.config import load as load
    from controlplane.engine.config import validate as validate
    from controlplane.engine.connect import ConfigRepository as ConfigRepository
    from controlplane.engine.connect import dialect_for as dialect_for
    from controlplane.engine.connect import forge_for as forge_for
    from controlplane.engine.connect import metric_source_for as metric_source_for
    from controlplane.engine.connect import mirror_targets as mirror_targets
    from controlplane.engine.connect import targets_for as targets_for
    from controlplane.engine.executors import apply_plan as apply_plan
    from controlplane.engine.executors import dry_run as dry_run
    from controlplane.engine.manual import ManualRollback as ManualRollback
    from controlplane.engine.manual import rollback_now as rollback_now
    from controlplane.engine.notifications import Event as Event
    from controlplane.engine.notifications import Notifier as Notifier
    from controlplane.engine.notifications import budget_threshold_events as budget_threshold_events
    from controlplane.engine.notifications import policy_failed_event as policy_failed_event
    from controlplane.engine.notifications import promotion_pr_event as promotion_pr_event
    from controlplane.engine.notifications import rollback_pr_event as rollback_pr_event
    from controlplane.engine.planning import TargetPlan as TargetPlan
    from controlplane.engine.planning import health_of as health_of
    from controlplane.engine.planning import plan_target as plan_target
    from controlplane.engine.planning import plan_targets as plan_targets
    from controlplane.engine.planning import plans_as_if_applied as plans_as_if_applied
    from controlplane.engine.promotions import Promoter as Promoter
    from controlplane.engine.promotions import PromotionResult as PromotionResult
    from controlplane.engine.remediation import Rollbacker as Rollbacker
    from controlplane.engine.remediation import RollbackResult as RollbackResult

_MODULE_OF = {
    "canary_starts": "canaries",
    "desired_state": "config",
    "load": "config",
    "validate": "config",
    "ConfigRepository": "connect",
    "dialect_for": "connect",
    "forge_for": "connect",
    "metric_source_for": "connect",
    "mirror_targets": "connect",
    "targets_for": "connect",
    "apply_plan": "executors",
    "dry_run": "executors",
    "ManualRollback": "manual",
    "rollback_now": "manual",
    "Event": "notifications",
    "Notifier": "notifications",
    "budget_threshold_events": "notifications",
    "policy_failed_event": "notifications",
    "promotion_pr_event": "notifications",
    "rollback_pr_event": "notifications",
    "TargetPlan": "planning",
    "health_of": "planning",
    "plans_as_if_applied": "planning",
    "plan_target": "planning",
    "plan_targets": "planning",
    "Promoter": "promotions",
    "PromotionResult": "promotions",
    "Rollbacker": "remediation",
    "RollbackResult": "remediation",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'controlplane.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"controlplane.engine.{module}"), name)
