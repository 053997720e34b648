"""`AwsCleaner` deletes what `dkp delete cluster` leaves in a workspace's AWS account."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

import boto3

from bot.errors import PermanentError
from bot.policy.housekeeping import Cleanup, Dns
from bot.policy.models import Aws, Policy
from provisioning.aws.balancers import cluster_load_balancers, delete_load_balancers
from provisioning.aws.owned import clean_tagged
from provisioning.aws.route53 import clean_dns
from provisioning.aws.session import AssumedRole, SessionFactory, utcnow
from provisioning.aws.tagged import (
    CAPA_TAG,
    CLUSTER_TAG,
    ENV_ID_TAG,
    INSTALL_ID_TAG,
    find_tagged,
)
from provisioning.cloud import (
    CleanupItem,
    CleanupReport,
    CloudCleaner,
    CloudTarget,
    LoadBalancer,
    PerWorkspaceCloud,
)

logger = logging.getLogger(__name__)


class AwsCleaner:
    """Cleans one workspace's AWS account with boto3, acting as the workspace role (or the bot).

    Before the Cluster goes it lists and deletes the cloud controller's load balancers
    (`balancers`); afterwards it deletes the Route53 records external-dns made for the
    environment (`route53`) and the resources tagged for it (`owned` has the identity rule).
    Thread-safe: the assumed-role credentials are shared behind a lock and
    every call builds its own Session and clients.
    """

    def __init__(
        self,
        policy_dns: Dns | None,
        policy_cleanup: Cleanup,
        aws_settings: Aws | None,
        session_factory: SessionFactory = boto3.Session,
        endpoint_url: str | None = None,
        now: Callable[[], datetime] = utcnow,
        *,
        region: str = "",
    ) -> None:
        """Keep the policy facts; no AWS call is made until `identity` or `cleanup`.

        Args:
            policy_dns: `policy.dns`; None skips the Route53 part.
            policy_cleanup: `policy.cleanup`: the `<service>:<type>` kinds that may be deleted.
            aws_settings: the workspace's `aws`: the role to assume and the region; None acts
                as the bot itself (default credential chain) in `region`.
            session_factory: builds boto3 Sessions (tests pass a fake).
            endpoint_url: one endpoint for every client (moto's server in tests).
            now: the clock used for credential expiry.
            region: the policy's `cleanup.region`, used without `aws_settings`.
        """
        self._dns = policy_dns
        self._delete = frozenset(policy_cleanup.delete)
        self._role = AssumedRole(aws_settings, session_factory, endpoint_url, now, region=region)

    def identity(self) -> str:
        """Return the caller's ARN and the assumed workspace role's ARN.

        Raises:
            TemporaryError: STS unreachable, throttled or 5xx.
            PermanentError: the credentials or the role are refused.
        """
        return self._role.identity()

    def foreign_holder(
        self, cluster_name: str, workspace: str, env_id: str, install_id: str
    ) -> str:
        """Describe a resource tagged `kubernetes.io/cluster/<cluster_name>` (or CAPA's
        `sigs.k8s.io/cluster-api-provider-aws/cluster/<name>`) that is not this environment's
        (its `envbot.io/env-id` tag is missing or another id); "" when there is none.

        Raises:
            TemporaryError: throttled, 5xx, unreachable or expired credentials.
            PermanentError: access denied or invalid configuration.
        """
        target = CloudTarget(
            env_id=env_id, cluster=cluster_name, workspace=workspace, created_at=utcnow()
        )
        keys = (CLUSTER_TAG.format(cluster_name), CAPA_TAG.format(cluster_name))
        for item in find_tagged(self._role, self._role.session(), target):
            if not any(key in item.tags for key in keys):
                continue  # found by the env-id tag only: not a holder of the name
            other_install = item.tags.get(INSTALL_ID_TAG, install_id) != install_id
            if item.tags.get(ENV_ID_TAG) != env_id or other_install:
                holder = item.tags.get(ENV_ID_TAG)
                whose = f"envbot environment {holder}" if holder else "not envbot"
                return f"{item.kind} {item.short_id} tagged for cluster {cluster_name} ({whose})"
        return ""

    def load_balancers(self, target: CloudTarget) -> tuple[LoadBalancer, ...]:
        """The cloud controller's load balancers that are provably the target's.

        Raises:
            TemporaryError: throttled, 5xx, unreachable or expired credentials.
            PermanentError: access denied or invalid configuration.
        """
        return cluster_load_balancers(self._role, self._role.session(), target)

    def delete_load_balancers(
        self, target: CloudTarget, lbs: Iterable[LoadBalancer]
    ) -> CleanupReport:
        """Delete the load balancers `load_balancers` returned (gone ones are left out)."""
        items = tuple(delete_load_balancers(self._role, self._role.session(), lbs))
        self._log("load balancers before the Cluster", target, CleanupReport(items))
        return CleanupReport(items)

    def cleanup(self, target: CloudTarget) -> CleanupReport:
        """Delete the environment's external-dns records and tagged resources; report the rest.

        Each part runs even when another is refused for good: an access-denied zone or tagging
        call is one reported item.

        Returns:
            DNS items first, then tagged resources in delete order; empty when nothing is left.

        Raises:
            TemporaryError: throttled, 5xx, unreachable or expired credentials; run it again.
            PermanentError: the workspace role itself cannot be assumed.
        """
        session = self._role.session()
        items: list[CleanupItem] = []
        if self._dns is not None:
            items.extend(clean_dns(self._role, session, self._dns, target))
        items.extend(self._tagged(session, target))
        report = CleanupReport(tuple(items))
        self._log("cloud cleanup", target, report)
        return report

    def _tagged(self, session: boto3.Session, target: CloudTarget) -> Iterator[CleanupItem]:
        try:
            tagged = find_tagged(self._role, session, target)
        except PermanentError as err:
            yield CleanupItem("tag:resources", target.cluster, "reported", f"{err}; check by hand")
            return
        yield from clean_tagged(self._role, session, tagged, target, self._delete)

    @staticmethod
    def _log(what: str, target: CloudTarget, report: CleanupReport) -> None:
        logger.info(
            "%s of %s: %d deleted, %d reported, %d failed",
            what,
            target.cluster,
            len(report.by_action("deleted")),
            len(report.by_action("reported")),
            len(report.by_action("failed")),
            extra={"backend": "aws", "workspace": target.workspace, "env_id": target.env_id},
        )


def build_cloud_cleaner(
    policy: Policy,
    session_factory: SessionFactory = boto3.Session,
    endpoint_url: str | None = None,
) -> CloudCleaner:
    """Build one cleaner for the whole policy: an `AwsCleaner` per workspace.

    A workspace with `aws` is cleaned as its role; one without is cleaned as the bot itself
    (boto3's default credential chain) in `cleanup.region`; with neither, `NoCloud`, which
    `policy check` refuses for a workspace that a cluster template uses. This is what the
    composition root hands to the services.

    Args:
        policy: the loaded policy.
        session_factory: builds boto3 Sessions.
        endpoint_url: one endpoint for every client (tests).
    """
    region = policy.cleanup.region or ""
    return PerWorkspaceCloud(
        {
            name: AwsCleaner(
                policy.dns, policy.cleanup, ws.aws, session_factory, endpoint_url, region=region
            )
            for name, ws in policy.workspaces.items()
            if ws.aws is not None or region
        }
    )
