"""The cloud controller's load balancers of a cluster, found and deleted before the Cluster.

`dkp delete cluster` deletes the workload cluster's LoadBalancer Services first, so the cloud
controller removes their load balancers and CAPA can delete the VPC. envbot holds no
workload-cluster credentials, so it does the same from the AWS side: load balancers tagged
`kubernetes.io/cluster/<name>=owned` and `kubernetes.io/service-name` that the identity rule
(`owned.judge`) gives to this environment are listed (their DNS names are recorded by the caller)
and then deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import boto3

from provisioning.aws.deleters import delete_one
from provisioning.aws.owned import judge
from provisioning.aws.session import AssumedRole
from provisioning.aws.tagged import (
    CLUSTER_TAG,
    LOAD_BALANCER,
    SERVICE_TAG,
    Tagged,
    facts,
    kind_of,
    scan,
)
from provisioning.cloud import CleanupItem, CloudTarget, LoadBalancer


def cluster_load_balancers(
    role: AssumedRole, session: boto3.Session, target: CloudTarget
) -> tuple[LoadBalancer, ...]:
    """The cloud controller's load balancers that are provably the target's, by ARN."""
    found: list[LoadBalancer] = []
    tagged = scan(role, session, CLUSTER_TAG.format(target.cluster), ["owned"])
    for arn, tags in sorted(tagged.items()):
        item = Tagged(arn, kind_of(arn), "owned", tags)
        if item.kind != LOAD_BALANCER or SERVICE_TAG not in tags:
            continue
        seen = facts(role, session, item)
        if not seen.gone and judge(item, seen, target, ())[0]:
            found.append(LoadBalancer(arn, seen.dns_name, tags[SERVICE_TAG]))
    return tuple(found)


def delete_load_balancers(
    role: AssumedRole, session: boto3.Session, lbs: Iterable[LoadBalancer]
) -> Iterator[CleanupItem]:
    """Delete each listed load balancer; gone ones are left out of the report."""
    for lb in lbs:
        item = Tagged(lb.arn, LOAD_BALANCER, "owned")
        why = f"the cloud controller's load balancer for Service {lb.service}, before the Cluster"
        result = delete_one(role, session, item, why)
        if result is not None:
            yield result
