"""`FakeCloud`: an in-memory `CloudCleaner` for `envbot demo`: a few leftovers, once."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from provisioning.cloud import CleanupItem, CleanupReport, CloudTarget, LoadBalancer


@dataclass
class FakeCloud:
    """The first cleanup of a cluster reports a Route53 record and a load balancer as deleted
    and a bucket as left in place; later cleanups of the same cluster return an empty report.
    It never holds load balancers, so a delete goes straight on to the Cluster.
    """

    account: str = "123456789012"
    calls: list[tuple[str, str]] = field(default_factory=list)
    _cleaned: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def identity(self) -> str:
        """Return a made-up assumed-role ARN."""
        return f"arn:aws:sts::{self.account}:assumed-role/envbot/envbot (fake)"

    def load_balancers(self, target: CloudTarget) -> tuple[LoadBalancer, ...]:
        """Return none."""
        return ()

    def delete_load_balancers(
        self, target: CloudTarget, lbs: Iterable[LoadBalancer]
    ) -> CleanupReport:
        """Return an empty report."""
        return CleanupReport()

    def cleanup(self, target: CloudTarget) -> CleanupReport:
        """Report the canned leftovers once per environment; record the call."""
        with self._lock:
            self.calls.append((target.cluster, target.workspace))
            if target.env_id in self._cleaned:
                return CleanupReport()
            if target.dry_run:  # report-only: say what would go, keep it
                return CleanupReport(
                    tuple(
                        replace(item, action="would_delete") if item.action == "deleted" else item
                        for item in self._leftovers(target.cluster)
                    )
                )
            self._cleaned.add(target.env_id)
        return CleanupReport(tuple(self._leftovers(target.cluster)))

    def _leftovers(self, cluster_name: str) -> Iterable[CleanupItem]:
        yield CleanupItem(
            "route53:CNAME", f"{cluster_name}.example.com", "deleted", "external-dns record"
        )
        yield CleanupItem(
            "elasticloadbalancing:loadbalancer",
            f"arn:aws:elasticloadbalancing:us-west-2:{self.account}:loadbalancer/"
            f"app/{cluster_name[:20]}/0123456789abcdef",
            "deleted",
            "tagged envbot.io/env-id",
        )
        yield CleanupItem(
            "s3:bucket",
            f"arn:aws:s3:::{cluster_name}-logs",
            "reported",
            "s3:bucket is not in cleanup.delete",
        )
