"""When a topology Cluster is stuck: `TopologyReconciled` False, for a reason that is not one of
the waits of a normal create or upgrade, for longer than the template's grace period.

Without this a Cluster whose topology CAPI cannot reconcile (a patch that fails, a ClusterClass
that is not reconciled) shows "Accepted" until it expires.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from provisioning.kube import labels as lbl

CONDITION = "TopologyReconciled"
# CAPI's reasons for False that are progress, not failure (core/v1beta1 condition_consts.go,
# core/v1beta2 cluster_types.go): creating, pending and deferred upgrades, hooks, pause, delete.
_WAITING = ("Pending", "Deferred")
_WAITING_REASONS = frozenset(
    {"ClusterCreating", "ClusterUpgrading", "LifecycleHookBlocking", "Paused", "Deleting"}
)


def _conditions(status: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for conditions in (
        status.get("conditions"),
        (status.get("v1beta2") or {}).get("conditions"),
        ((status.get("deprecated") or {}).get("v1beta1") or {}).get("conditions"),
    ):
        for cond in conditions or []:
            if isinstance(cond, Mapping) and cond.get("type") == CONDITION:
                yield cond


def _since(cond: Mapping[str, Any], cluster: Mapping[str, Any]) -> datetime | None:
    for text in (cond.get("lastTransitionTime"), lbl.meta(cluster).get("creationTimestamp")):
        try:
            return datetime.fromisoformat(str(text))
        except ValueError:
            continue
    return None


def topology_stuck(cluster: Mapping[str, Any] | None, now: datetime, grace: timedelta) -> str:
    """The failure to report, with the condition's message, or "" while the topology is fine,
    still progressing, or False for less than `grace`."""
    if not cluster:
        return ""
    for cond in _conditions(cluster.get("status") or {}):
        reason = str(cond.get("reason") or "")
        if str(cond.get("status", "")).lower() != "false":
            continue
        if reason in _WAITING_REASONS or reason.endswith(_WAITING):
            continue
        since = _since(cond, cluster)
        if since is None or now - since < grace:
            continue
        message = str(cond.get("message") or "no message")
        why = reason or "no reason"
        return f"Cluster API cannot reconcile the cluster topology ({why}): {message}"
    return ""
