"""The policy's housekeeping sections: reminders, DNS and cloud cleanup, and retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator

from bot.policy.base import PolicyModel
from bot.policy.types import Duration, TimeOfDay, pattern_text


def _sorted_desc(before: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
    return tuple(sorted(before, reverse=True))


class QuietHours(PolicyModel):
    """No reminders between start and end, in the owner's Slack timezone."""

    start: TimeOfDay
    end: TimeOfDay


class Reminders(PolicyModel):
    """When reminders go out; `before` is kept sorted, longest first."""

    before: Annotated[tuple[Duration, ...], AfterValidator(_sorted_desc)] = (
        timedelta(hours=24),
        timedelta(hours=1),
    )
    quiet_hours: QuietHours | None = None


class Dns(PolicyModel):
    """Route53 records that external-dns created, removed on deletion."""

    zones: tuple[str, ...]
    txt_prefix: str = "_externaldns-"
    txt_owner_id: str = "kommander"


class Cleanup(PolicyModel):
    """AWS resource types deleted after a cluster (the rest is only reported), and the region of
    the clusters of workspaces without `aws`."""

    delete: tuple[
        Annotated[
            str,
            pattern_text(r"[a-z0-9-]+:[a-z0-9-]+", "<service>:<resource-type> (e.g. ec2:volume)"),
        ],
        ...,
    ] = ()
    # the region of clusters in workspaces without `aws`, cleaned with envbot's own credentials
    region: (
        Annotated[str, pattern_text(r"[a-z]{2}(-[a-z]+)+-\d", "an AWS region (e.g. us-west-2)")]
        | None
    ) = None


class Retention(PolicyModel):
    """How long old outbox, inbound and audit rows are kept."""

    audit: Duration = timedelta(days=400)
    outbox: Duration = timedelta(days=7)
    inbound: Duration = timedelta(days=1)
