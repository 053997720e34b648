"""The identity rule for AWS resources: which tagged resources are provably one environment's.

1. Tagged `envbot.io/env-id=<this id>`: ours. Tagged with another id: another environment's.
2. Known only by `kubernetes.io/cluster/<name>` (the cloud controller's load balancers, the EBS
   CSI driver's volumes): ours when tagged `owned`, no live environment holds the name now, and
   AWS's creation time lies within this environment's life ([created, deleted]).
3. Security groups and target groups have no creation time: known only by the name, they are
   ours when tagged `owned` and inside a VPC tagged with this environment's id (CAPA puts the
   id on the VPC it creates). Everything else is reported, never deleted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

import boto3

from bot.errors import PermanentError
from provisioning.aws.deleters import delete_one
from provisioning.aws.session import AssumedRole
from provisioning.aws.tagged import (
    DELETE_ORDER,
    ENV_ID_TAG,
    INSTALL_ID_TAG,
    LOAD_BALANCER,
    VOLUME,
    Facts,
    Tagged,
    env_vpcs,
    facts,
)
from provisioning.cloud import CleanupItem, CloudTarget


def judge(
    item: Tagged, seen: Facts, target: CloudTarget, vpcs: Collection[str]
) -> tuple[bool, str]:
    """Whether `item` is provably the target's, and why (or why not), in a few words."""
    install = item.tags.get(INSTALL_ID_TAG)
    if install and target.install_id and install != target.install_id:
        return False, f"tagged for another envbot install ({INSTALL_ID_TAG}={install})"
    if ENV_ID_TAG in item.tags:
        if item.tags[ENV_ID_TAG] == target.env_id:
            return True, f"tagged {ENV_ID_TAG}={target.env_id}"
        return False, f"tagged for another environment ({ENV_ID_TAG}={item.tags[ENV_ID_TAG]})"
    if item.ownership != "owned":
        return False, "tagged shared with other clusters"
    if target.name_taken:
        return False, f"known only by the name {target.cluster}, which a live environment holds now"
    if item.kind in (LOAD_BALANCER, VOLUME):
        if seen.created is None:
            return False, "no creation time to check"
        end = target.ended_at
        if seen.created < target.created_at or (end is not None and seen.created > end):
            return (
                False,
                f"created {seen.created:%Y-%m-%d %H:%M} UTC, outside this environment's life",
            )
        return True, "tagged owned for the cluster, created during this environment's life"
    if seen.vpc and seen.vpc in vpcs:
        return True, f"tagged owned for the cluster, in this environment's VPC {seen.vpc}"
    return False, "known only by the cluster name and has no creation time"


def clean_tagged(
    role: AssumedRole,
    session: boto3.Session,
    tagged: Sequence[Tagged],
    target: CloudTarget,
    delete: Collection[str],
) -> Iterator[CleanupItem]:
    """Delete what is provably the target's and in `delete` (`policy.cleanup.delete`); report
    the rest. A refused describe or delete (access denied) is reported; the others still run."""
    vpcs = env_vpcs(tagged, target.env_id)
    for item in tagged:
        try:
            seen = facts(role, session, item)
        except PermanentError as err:
            yield CleanupItem(item.kind, item.arn, "reported", f"{err}; check it by hand")
            continue
        if seen.gone:
            continue
        ours, why = judge(item, seen, target, vpcs)
        if not ours:
            yield CleanupItem(item.kind, item.arn, "reported", why)
        elif item.kind not in delete:
            yield CleanupItem(
                item.kind, item.arn, "reported", f"{item.kind} is not in cleanup.delete"
            )
        elif item.kind not in DELETE_ORDER:
            yield CleanupItem(item.kind, item.arn, "reported", f"envbot cannot delete {item.kind}")
        else:
            result = delete_one(role, session, item, why)
            if result is not None:
                yield result
