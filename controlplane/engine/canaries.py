"""When each canary of an environment went live, from the apply history.

A canary's evidence starts when its configuration (`canary_identity`) went live. The history
keeps the first time each configuration was seen live; the first sighting takes the finish time
of the apply that is live now, so an identity first seen after an unrelated apply starts late
(less evidence, never evidence from before it was served).
"""

from __future__ import annotations

from datetime import datetime

from controlplane.history import History
from controlplane.history.records import Attempt
from controlplane.policy.canary import canary_identity
from controlplane.spec import DesiredState


def canary_starts(
    history: History, state: DesiredState, live: Attempt | None, now: datetime
) -> dict[str, datetime]:
    """Route name -> when its canary's current configuration went live."""
    went_live = (live.finished_at if live else None) or now
    identities = {
        route.name: canary_identity(state, route)
        for route in state.routes
        if route.spec.canary is not None
    }
    return history.canary_starts(state.name, identities, went_live) if identities else {}
