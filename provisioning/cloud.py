"""The `CloudCleaner` Protocol that removes what a cluster leaves in its cloud account.

Before the Cluster is deleted, the cloud controller's load balancers go first (as `dkp delete
cluster` deletes the LoadBalancer Services), their DNS names recorded. After the environment is
DELETED, a cleaner finds the Route53 records external-dns made and the resources tagged for the
cluster, deletes what is provably this environment's (`CloudTarget`) and reports the rest. This
module has no SDK imports, so services can depend on it; the boto3 one is `provisioning.aws`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from provisioning.names import CloudNames

Action = Literal["deleted", "reported", "failed", "would_delete"]

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
        words = {"would_delete": "would be deleted"}
        counts = [
            f"{len(self.by_action(action))} {words.get(action, action)}"
            for action in ("would_delete", "deleted", "reported", "failed")
            if self.by_action(action)
        ]
        lines = [f"Cloud cleanup: {', '.join(counts)}."]
        marks = {
            "deleted": "deleted",
            "reported": "left in place",
            "failed": "failed",
            "would_delete": "would delete",
        }
        for item in self.items[:_SUMMARY_LIMIT]:
            detail = f": {item.detail}" if item.detail else ""
            lines.append(f"• {marks[item.action]} `{item.kind}` `{item.id}`{detail}")
        if len(self.items) > _SUMMARY_LIMIT:
            lines.append(f"…and {len(self.items) - _SUMMARY_LIMIT} more")
        if self.retry:
            lines.append("Failed items are retried by the next cleanup.")
        return "\n".join(lines)


@dataclass(frozen=True)
class CloudTarget:
    """The environment a cloud call is for, and the facts that make a resource provably its.

    Attributes:
        env_id: the environment id; resources tagged `envbot.io/env-id=<env_id>` are its own.
        cluster: the cluster name (`kubernetes.io/cluster/<cluster>`).
        workspace: the policy workspace, which picks the account.
        created_at: when the environment was created (its name reserved).
        ended_at: when it was DELETED; None while it still lives.
        hosts: DNS names recorded while it lived: its load balancers' and its ingress host.
        ingress_host: the KommanderCluster ingress host (a record so named is its own).
        name_taken: another environment with this name is live now: resources known only by
            the name are refused.
        install_id: this install's id; a resource tagged `envbot.io/install-id` with another
            id is another install's, whatever its env-id tag says.
        dry_run: report-only mode: `cleanup` lists what it would delete ("would_delete")
            and deletes nothing.
    """

    env_id: str
    cluster: str
    workspace: str
    created_at: datetime
    ended_at: datetime | None = None
    hosts: frozenset[str] = frozenset()
    ingress_host: str = ""
    name_taken: bool = False
    install_id: str = ""
    dry_run: bool = False


@dataclass(frozen=True)
class LoadBalancer:
    """A load balancer the cloud controller made for one of the cluster's Services."""

    arn: str
    dns_name: str
    service: str  # the `kubernetes.io/service-name` tag: `<namespace>/<name>`


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

    def load_balancers(self, target: CloudTarget) -> tuple[LoadBalancer, ...]:
        """The cloud controller's load balancers of the cluster that are provably the target's.

        Raises:
            TemporaryError: worth retrying later.
            PermanentError: retrying will not help (e.g. access denied).
        """
        ...

    def delete_load_balancers(
        self, target: CloudTarget, lbs: Iterable[LoadBalancer]
    ) -> CleanupReport:
        """Delete load balancers `load_balancers` returned; one item each (gone ones omitted).

        Raises:
            TemporaryError: worth retrying later.
        """
        ...

    def cleanup(self, target: CloudTarget) -> CleanupReport:
        """Delete what the target's cluster left behind and report every leftover found.

        Args:
            target: the environment, its lifetime and the hosts recorded for it.

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

    def foreign_holder(
        self, cluster_name: str, workspace: str, env_id: str, install_id: str
    ) -> str:
        """Return "": without a cloud account there is nothing to hold the name."""
        return ""

    def load_balancers(self, target: CloudTarget) -> tuple[LoadBalancer, ...]:
        """Return none."""
        return ()

    def delete_load_balancers(
        self, target: CloudTarget, lbs: Iterable[LoadBalancer]
    ) -> CleanupReport:
        """Return an empty report."""
        return CleanupReport()

    def cleanup(self, target: CloudTarget) -> CleanupReport:
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

    def _of(self, target: CloudTarget) -> CloudCleaner:
        return self._cleaners.get(target.workspace, self._default)

    def identity(self) -> str:
        """Return each workspace's identity, one `workspace: identity` per line."""
        if not self._cleaners:
            return self._default.identity()
        return "\n".join(f"{ws}: {cleaner.identity()}" for ws, cleaner in self._cleaners.items())

    def foreign_holder(
        self, cluster_name: str, workspace: str, env_id: str, install_id: str
    ) -> str:
        """The workspace cleaner's answer, when it can look (see `provisioning.names`)."""
        cleaner = self._cleaners.get(workspace, self._default)
        if not isinstance(cleaner, CloudNames):
            return ""
        return cleaner.foreign_holder(cluster_name, workspace, env_id, install_id)

    def load_balancers(self, target: CloudTarget) -> tuple[LoadBalancer, ...]:
        """The workspace cleaner's answer."""
        return self._of(target).load_balancers(target)

    def delete_load_balancers(
        self, target: CloudTarget, lbs: Iterable[LoadBalancer]
    ) -> CleanupReport:
        """The workspace cleaner's answer."""
        return self._of(target).delete_load_balancers(target, lbs)

    def cleanup(self, target: CloudTarget) -> CleanupReport:
        """Clean up with the workspace's cleaner."""
        return self._of(target).cleanup(target)
