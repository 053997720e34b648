"""The `CloudCleaner` Protocol that removes what a deleted cluster leaves in its cloud account.

`dkp delete cluster` leaves Route53 records that external-dns created, and can leave load
balancers, volumes and security groups tagged for the cluster. A cleaner finds them after the
environment is DELETED, deletes the kinds the policy allows and reports the rest. This module has
no SDK imports, so services can depend on it; the boto3 implementation is `provisioning.aws`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

Action = Literal["deleted", "reported", "failed"]

_SUMMARY_LIMIT = 40  # items listed in a Slack message before "and N more"


@dataclass(frozen=True)
class CleanupItem:
    """One leftover a cleaner found, and what it did about it.

    Attributes:
        kind: `route53:<type>` for DNS records, else `<service>:<resource-type>` as in
            `policy.cleanup.delete` (e.g. `ec2:volume`).
        id: the record name or the resource ARN / id.
        action: `deleted`; `reported` (left alone: not in `cleanup.delete`, shared, in use or
            ambiguous); `failed` (a delete was refused for now, e.g. a dependency; a later
            cleanup retries it).
        detail: why, in a few words.
    """

    kind: str
    id: str
    action: Action
    detail: str = ""


@dataclass(frozen=True)
class CleanupReport:
    """Everything one cleanup pass found; empty when nothing was left."""

    items: tuple[CleanupItem, ...] = ()

    def by_action(self, action: Action) -> tuple[CleanupItem, ...]:
        """Return the items that got `action`, in report order."""
        return tuple(item for item in self.items if item.action == action)

    @property
    def retry(self) -> bool:
        """True when some delete failed for now and another cleanup pass should run later."""
        return any(item.action == "failed" for item in self.items)

    def summary(self) -> str:
        """Render the report as Slack mrkdwn for the environment's thread.

        Returns:
            One headline with the counts, then one line per item (at most 40, then
            "and N more"); "nothing was left behind" when the report is empty.
        """
        if not self.items:
            return "Cloud cleanup: nothing was left behind."
        counts = [
            f"{len(self.by_action(action))} {action}"
            for action in ("deleted", "reported", "failed")
            if self.by_action(action)
        ]
        lines = [f"Cloud cleanup: {', '.join(counts)}."]
        marks = {"deleted": "deleted", "reported": "left in place", "failed": "failed"}
        for item in self.items[:_SUMMARY_LIMIT]:
            detail = f": {item.detail}" if item.detail else ""
            lines.append(f"• {marks[item.action]} `{item.kind}` `{item.id}`{detail}")
        if len(self.items) > _SUMMARY_LIMIT:
            lines.append(f"…and {len(self.items) - _SUMMARY_LIMIT} more")
        if self.retry:
            lines.append("Failed items are retried by the next cleanup.")
        return "\n".join(lines)


class CloudCleaner(Protocol):
    """Finds and removes what a deleted cluster left in its cloud account.

    Contract: `cleanup` is idempotent. It lists what is still there on every call, so a second
    call after a complete pass finds nothing and returns an empty report. Errors are
    `TemporaryError(retry_after)` (throttling, the endpoint unreachable: run it again later) or
    `PermanentError` (access denied, bad configuration), with the SDK exception chained.
    """

    def identity(self) -> str:
        """Return who the cleaner acts as, for `envbot doctor` and start-up logs.

        Raises:
            TemporaryError: the cloud API could not be reached.
            PermanentError: the credentials or the role are refused.
        """
        ...

    def cleanup(self, cluster_name: str, workspace: str) -> CleanupReport:
        """Delete what `cluster_name` left behind and report every leftover found.

        Args:
            cluster_name: the Cluster API cluster name (the environment name).
            workspace: the policy workspace the cluster belonged to.

        Returns:
            One item per leftover: deleted, reported (left in place) or failed (retry later).

        Raises:
            TemporaryError: worth retrying later; nothing done so far is undone.
            PermanentError: retrying will not help (e.g. access denied).
        """
        ...


class NoCloud:
    """The cleaner for workspaces without `aws`: there is nothing to clean."""

    def identity(self) -> str:
        """Return a fixed text: no cloud account is configured."""
        return "no cloud account configured"

    def cleanup(self, cluster_name: str, workspace: str) -> CleanupReport:
        """Return an empty report."""
        return CleanupReport()


class PerWorkspaceCloud:
    """Routes each call to the cleaner of the workspace, or to `default` (NoCloud) if none."""

    def __init__(
        self, cleaners: Mapping[str, CloudCleaner], default: CloudCleaner | None = None
    ) -> None:
        """Keep one cleaner per workspace name.

        Args:
            cleaners: workspace name -> its cleaner (e.g. an `AwsCleaner` for its account).
            default: the cleaner for other workspaces; `NoCloud()` when omitted.
        """
        self._cleaners = dict(cleaners)
        self._default: CloudCleaner = default or NoCloud()

    def identity(self) -> str:
        """Return each workspace's identity, one `workspace: identity` per line."""
        if not self._cleaners:
            return self._default.identity()
        return "\n".join(f"{ws}: {cleaner.identity()}" for ws, cleaner in self._cleaners.items())

    def cleanup(self, cluster_name: str, workspace: str) -> CleanupReport:
        """Clean up with the workspace's cleaner."""
        return self._cleaners.get(workspace, self._default).cleanup(cluster_name, workspace)


@dataclass
class FakeCloud:
    """In-memory cleaner for `envbot demo` and tests: a few leftovers, gone after one cleanup.

    The first cleanup of a cluster reports a Route53 record and a load balancer as deleted and
    a bucket as left in place; later cleanups of the same cluster return an empty report.
    """

    account: str = "123456789012"
    calls: list[tuple[str, str]] = field(default_factory=list)
    _cleaned: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def identity(self) -> str:
        """Return a made-up assumed-role ARN."""
        return f"arn:aws:sts::{self.account}:assumed-role/envbot/envbot (fake)"

    def cleanup(self, cluster_name: str, workspace: str) -> CleanupReport:
        """Report the canned leftovers once per cluster; record the call."""
        with self._lock:
            self.calls.append((cluster_name, workspace))
            if cluster_name in self._cleaned:
                return CleanupReport()
            self._cleaned.add(cluster_name)
        return CleanupReport(tuple(self._leftovers(cluster_name)))

    def _leftovers(self, cluster_name: str) -> Iterable[CleanupItem]:
        yield CleanupItem(
            "route53:CNAME", f"{cluster_name}.example.com.", "deleted", "external-dns record"
        )
        yield CleanupItem(
            "elasticloadbalancing:loadbalancer",
            f"arn:aws:elasticloadbalancing:us-west-2:{self.account}:loadbalancer/"
            f"app/{cluster_name[:20]}/0123456789abcdef",
            "deleted",
            "tagged owned",
        )
        yield CleanupItem(
            "s3:bucket",
            f"arn:aws:s3:::{cluster_name}-logs",
            "reported",
            "s3:bucket is not in cleanup.delete",
        )
