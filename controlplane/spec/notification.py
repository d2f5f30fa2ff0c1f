"""Notification channels of an Environment: where failed syncs, drift, failing policies, pull
requests and budget thresholds are reported.

Two kinds, chosen by `type`: `slack` (a Slack-compatible incoming webhook, whose URL is the
credential, so the config holds only its reference) and `webhook` (a JSON POST to a URL, signed
with HMAC-SHA256 by a key given by reference). Each channel picks the events it wants, how often
the same event may repeat (`minInterval`), and how many messages a minute it may get at most.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from controlplane.spec.base import Duration, HttpUrl, Name, SecretRef, SpecModel


class NotificationEvent(StrEnum):
    """What happened. `all` in a channel's `events` stands for every other one."""

    ALL = "all"
    SYNC_FAILED = "sync-failed"  # an apply failed, or the targets could not be read to plan
    DRIFT = "drift"  # live differs from the applied commit and self-heal is off
    POLICY_FAILED = "policy-failed"  # a policy check is failing (after failAfter evaluations)
    ROLLBACK_PR = "rollback-pr"  # a rollback pull request was opened
    PROMOTION_PR = "promotion-pr"  # a promotion pull request was opened
    BUDGET_THRESHOLD = "budget-threshold"  # spend (or its forecast) passed a `notify` threshold


class _ChannelConfig(SpecModel):
    events: list[NotificationEvent] = Field(
        default_factory=list,
        max_length=len(NotificationEvent),
        description="The events sent to this channel; empty or [all]: every event.",
    )
    min_interval: Duration = Field(
        default=timedelta(hours=1),
        ge=timedelta(0),
        description="The same event (same environment, commit and content) is sent to this "
        "channel at most once in this interval; later repeats are recorded as deduplicated.",
    )
    max_per_minute: int = Field(
        default=20,
        ge=1,
        le=600,
        description="At most this many messages to this channel in any minute; more are "
        "recorded as rate-limited and not sent.",
    )

    def wants(self, event: NotificationEvent) -> bool:
        """Whether this channel is sent EVENT."""
        return not self.events or NotificationEvent.ALL in self.events or event in self.events


class SlackNotificationConfig(_ChannelConfig):
    type: Literal["slack"] = Field(description="A Slack-compatible incoming webhook.")
    name: Name = Field(default="slack", description="Name of this channel in the history.")
    url: SecretRef = Field(
        description="The incoming webhook URL, by reference (env:VAR or file:/path): the URL "
        "is the credential. It is sent only to a host the operator binds the reference to "
        "(CONTROLPLANE_CREDENTIAL_HOSTS)."
    )


class WebhookNotificationConfig(_ChannelConfig):
    type: Literal["webhook"] = Field(
        description="A JSON POST signed with HMAC-SHA256 (X-Controlplane-Signature)."
    )
    name: Name = Field(default="webhook", description="Name of this channel in the history.")
    url: HttpUrl = Field(description="Where the JSON is posted.")
    secret: SecretRef = Field(
        description="The signing key, by reference; the receiver holds the same key to verify "
        "the X-Controlplane-Signature header."
    )


NotificationConfig = Annotated[
    SlackNotificationConfig | WebhookNotificationConfig, Field(discriminator="type")
]


def _unique_names(
    channels: Sequence[SlackNotificationConfig | WebhookNotificationConfig],
) -> list[NotificationConfig]:
    names = [c.name for c in channels]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"channel names must be unique; repeated: {', '.join(repeated)}")
    return list(channels)


Notifications = Annotated[
    list[NotificationConfig], Field(max_length=32), AfterValidator(_unique_names)
]
