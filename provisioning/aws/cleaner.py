"""`AwsCleaner` deletes what `dkp delete cluster` leaves in a workspace's AWS account."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import boto3

from bot.policy.housekeeping import Cleanup, Dns
from bot.policy.models import Aws, Policy
from provisioning.aws.route53 import clean_dns
from provisioning.aws.session import AssumedRole, SessionFactory, utcnow
from provisioning.aws.tagged import clean_tagged, find_tagged, load_balancer_dns_names
from provisioning.cloud import CleanupItem, CleanupReport, CloudCleaner, PerWorkspaceCloud

logger = logging.getLogger(__name__)


class AwsCleaner:
    """Cleans one workspace's AWS account with boto3, acting as the workspace role (or the bot).

    It deletes the Route53 records that external-dns created for the cluster and the resources
    still tagged for it (`kubernetes.io/cluster/<name>`,
    `sigs.k8s.io/cluster-api-provider-aws/cluster/<name>`); see `route53.clean_dns` for the
    ownership rule. Thread-safe: the assumed-role credentials are shared behind a lock and
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

    def cleanup(self, cluster_name: str, workspace: str) -> CleanupReport:
        """Delete the cluster's external-dns records and tagged resources; report the rest.

        Args:
            cluster_name: the Cluster API cluster name.
            workspace: the workspace, for the logs.

        Returns:
            DNS items first, then tagged resources in delete order; empty when nothing is left.

        Raises:
            TemporaryError: throttled, 5xx, unreachable or expired credentials; run it again.
            PermanentError: access denied or invalid configuration.
        """
        session = self._role.session()
        tagged = find_tagged(self._role, session, cluster_name)
        items: list[CleanupItem] = []
        if self._dns is not None:
            lb_dns = load_balancer_dns_names(self._role, session, tagged)
            items.extend(clean_dns(self._role, session, self._dns, cluster_name.lower(), lb_dns))
        items.extend(clean_tagged(self._role, session, tagged, self._delete))
        report = CleanupReport(tuple(items))
        logger.info(
            "cloud cleanup of %s: %d deleted, %d reported, %d failed",
            cluster_name,
            len(report.by_action("deleted")),
            len(report.by_action("reported")),
            len(report.by_action("failed")),
            extra={"backend": "aws", "workspace": workspace, "cluster": cluster_name},
        )
        return report


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
