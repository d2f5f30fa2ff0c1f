"""The engine: the one package that composes the pure core with the adapters.

Desired state from a config repository (`desired_state`, `validate`), plans per target
(`plan_targets`, `plan_as_if_applied`), the apply executors (`apply_plan`, `dry_run`), adapters
built from an Environment (`targets_for`, `forge_for`, `metric_source_for`, always batched), and
remediation (`Rollbacker`, `rollback_now`). The CLI, the reconciler, the policy runner and the
API call these, and compose nothing of the kind themselves.
"""

from controlplane.engine.config import desired_state, load, validate
from controlplane.engine.connect import dialect_for, forge_for, metric_source_for, targets_for
from controlplane.engine.executors import apply_plan, dry_run
from controlplane.engine.manual import ManualRollback, rollback_now
from controlplane.engine.planning import TargetPlan, plan_as_if_applied, plan_target, plan_targets
from controlplane.engine.remediation import Rollbacker, RollbackResult

__all__ = [
    "ManualRollback",
    "RollbackResult",
    "Rollbacker",
    "TargetPlan",
    "apply_plan",
    "desired_state",
    "dialect_for",
    "dry_run",
    "forge_for",
    "load",
    "metric_source_for",
    "plan_as_if_applied",
    "plan_target",
    "plan_targets",
    "rollback_now",
    "targets_for",
    "validate",
]
