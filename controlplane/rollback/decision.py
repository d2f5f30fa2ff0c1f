"""What a failed policy led to: the decision on its rollback, as recorded and counted."""

from __future__ import annotations

from enum import StrEnum


class Decision(StrEnum):
    OPENED = "opened"  # a pull request was opened
    DRY_RUN = "dry-run"  # the pull request was written to a file instead
    DUPLICATE = "duplicate"  # one is already open for this change
    COOLDOWN = "cooldown"  # one was proposed within the policy's cooldown
    NO_ATTRIBUTION = "no-attributable-change"  # no applied change covers what failed
    ALREADY_REVERTED = "already-reverted"  # the branch no longer holds the change
    DISABLED = "disabled"  # the policy's remediation is none
    FAILED = "failed"  # a step (git, forge, validation) failed; the next failure retries
    CLOSED = "closed"  # an opened pull request was later found closed
    MERGED = "merged"  # an opened (promotion) pull request was later found merged
    BLOCKED = "blocked-by-rollback"  # a promotion waits: a rollback PR is open for its route


# What a cooldown counts from: a proposal that reached a reviewer (or a file, in dry-run).
PROPOSED = (Decision.OPENED, Decision.DRY_RUN)
