"""Resources tagged for a cluster (Resource Groups Tagging API) and the deleters for each type."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast

import boto3

from bot.errors import PermanentError
from provisioning.aws.errors import GONE, RETRY_LATER, cause_code
from provisioning.aws.session import CLIENT_CONFIG, AssumedRole
from provisioning.cloud import CleanupItem

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_elbv2.client import ElasticLoadBalancingv2Client

CLUSTER_TAG = "kubernetes.io/cluster/{}"
CAPA_TAG = "sigs.k8s.io/cluster-api-provider-aws/cluster/{}"
LOAD_BALANCER = "elasticloadbalancing:loadbalancer"
TARGET_GROUP = "elasticloadbalancing:targetgroup"
VOLUME = "ec2:volume"
SECURITY_GROUP = "ec2:security-group"
# Load balancers go first: their network interfaces hold the security groups.
DELETE_ORDER = (LOAD_BALANCER, TARGET_GROUP, VOLUME, SECURITY_GROUP)


class _ClassicElb(Protocol):
    """The two classic ELB calls used here (boto3-stubs `elb` is not installed)."""

    def describe_load_balancers(self, *, LoadBalancerNames: list[str]) -> Mapping[str, Any]: ...

    def delete_load_balancer(self, *, LoadBalancerName: str) -> object: ...


@dataclass(frozen=True)
class Tagged:
    """A resource tagged for the cluster: its ARN, `<service>:<type>` and tag value."""

    arn: str
    kind: str
    ownership: str  # "owned" or "shared"

    @property
    def resource(self) -> str:
        """The ARN's resource part, e.g. `volume/vol-123` or `loadbalancer/app/x/1`."""
        return self.arn.split(":", 5)[5]

    @property
    def short_id(self) -> str:
        """The last path element of the resource: a volume, group or classic ELB name."""
        return self.resource.rsplit("/", 1)[-1]


def kind_of(arn: str) -> str:
    """Return `<service>:<resource-type>` of an ARN, as `policy.cleanup.delete` spells it.

    Examples: `ec2:volume`, `elasticloadbalancing:loadbalancer`, `s3:bucket`, `iam:role`.
    """
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return f"unknown:{arn}"
    service, resource = parts[2], parts[5]
    if "/" not in resource and ":" not in resource:
        return f"{service}:bucket" if service == "s3" else f"{service}:{resource}"
    return f"{service}:{re.split(r'[/:]', resource, maxsplit=1)[0]}"


def _is_elbv2(item: Tagged) -> bool:
    return item.resource.startswith(("loadbalancer/app/", "loadbalancer/net/", "loadbalancer/gwy/"))


def find_tagged(role: AssumedRole, session: boto3.Session, cluster: str) -> list[Tagged]:
    """Every resource tagged for the cluster by the cloud provider or by CAPA, in delete order."""
    tagging = session.client(
        "resourcegroupstaggingapi",
        region_name=role.region,
        endpoint_url=role.endpoint_url,
        config=CLIENT_CONFIG,
    )
    keys = {CLUSTER_TAG.format(cluster): ["owned", "shared"], CAPA_TAG.format(cluster): []}
    found: dict[str, Tagged] = {}

    def scan(key: str, values: list[str]) -> list[tuple[str, str]]:
        flt = {"Key": key, "Values": values} if values else {"Key": key}
        pages = tagging.get_paginator("get_resources").paginate(TagFilters=[flt])  # type: ignore[list-item]
        return [
            (mapping["ResourceARN"], tag["Value"])
            for page in pages
            for mapping in page["ResourceTagMappingList"]
            for tag in mapping.get("Tags", [])
            if tag["Key"] == key
        ]

    for key, values in keys.items():
        for arn, value in role.call("tag:GetResources", partial(scan, key, values)):
            ownership = "owned" if value == "owned" else "shared"
            old = found.get(arn)
            if old is None or (ownership == "owned" and old.ownership != "owned"):
                found[arn] = Tagged(arn, kind_of(arn), ownership)
    order = {kind: i for i, kind in enumerate(DELETE_ORDER)}
    return sorted(found.values(), key=lambda t: (order.get(t.kind, len(order)), t.arn))


def load_balancer_dns_names(
    role: AssumedRole, session: boto3.Session, tagged: Iterable[Tagged]
) -> set[str]:
    """DNS names of the cluster's load balancers: evidence for the records pointing at them."""
    names: set[str] = set()
    for item in tagged:
        if item.kind != LOAD_BALANCER:
            continue
        try:
            if _is_elbv2(item):
                elbv2: ElasticLoadBalancingv2Client = role.client(session, "elbv2")
                lbs = role.call(
                    "elbv2:DescribeLoadBalancers",
                    partial(elbv2.describe_load_balancers, LoadBalancerArns=[item.arn]),
                )
                names.update(lb["DNSName"].lower() for lb in lbs["LoadBalancers"])
            else:
                elb = cast(_ClassicElb, role.client(session, "elb"))
                answer = role.call(
                    "elb:DescribeLoadBalancers",
                    partial(elb.describe_load_balancers, LoadBalancerNames=[item.short_id]),
                )
                names.update(
                    str(lb["DNSName"]).lower() for lb in answer["LoadBalancerDescriptions"]
                )
        except PermanentError as err:
            if cause_code(err) not in GONE:
                raise
    return names


def clean_tagged(
    role: AssumedRole,
    session: boto3.Session,
    tagged: Sequence[Tagged],
    delete: Collection[str],
) -> Iterator[CleanupItem]:
    """Delete the owned resources whose kind is in `delete`; report the rest.

    Args:
        role: makes the calls and translates their errors.
        session: a Session acting as the workspace role.
        tagged: the cluster's resources, in delete order.
        delete: `policy.cleanup.delete`: the `<service>:<type>` kinds that may be deleted.
    """
    for item in tagged:
        if item.ownership != "owned":
            yield CleanupItem(item.kind, item.arn, "reported", "tagged shared with other clusters")
        elif item.kind not in delete:
            yield CleanupItem(
                item.kind, item.arn, "reported", f"{item.kind} is not in cleanup.delete"
            )
        elif item.kind not in DELETE_ORDER:
            yield CleanupItem(item.kind, item.arn, "reported", f"envbot cannot delete {item.kind}")
        else:
            result = _delete_one(role, session, item)
            if result is not None:
                yield result


def _delete_one(role: AssumedRole, session: boto3.Session, item: Tagged) -> CleanupItem | None:
    """Delete one owned resource; None when it was already gone."""
    try:
        if item.kind == VOLUME:
            return _delete_volume(role, session, item)
        if item.kind == SECURITY_GROUP:
            ec2: EC2Client = role.client(session, "ec2")
            role.call(
                "ec2:DeleteSecurityGroup",
                lambda: ec2.delete_security_group(GroupId=item.short_id),
            )
        elif item.kind == TARGET_GROUP:
            elbv2: ElasticLoadBalancingv2Client = role.client(session, "elbv2")
            role.call(
                "elbv2:DeleteTargetGroup",
                lambda: elbv2.delete_target_group(TargetGroupArn=item.arn),
            )
        elif _is_elbv2(item):
            elbv2 = role.client(session, "elbv2")
            role.call(
                "elbv2:DeleteLoadBalancer",
                lambda: elbv2.delete_load_balancer(LoadBalancerArn=item.arn),
            )
        else:
            elb = cast(_ClassicElb, role.client(session, "elb"))
            role.call(
                "elb:DeleteLoadBalancer",
                lambda: elb.delete_load_balancer(LoadBalancerName=item.short_id),
            )
    except PermanentError as err:
        code = cause_code(err)
        if code in GONE:
            return None
        if code in RETRY_LATER:
            return CleanupItem(item.kind, item.arn, "failed", f"{code}, will retry: {err}")
        raise
    return CleanupItem(item.kind, item.arn, "deleted", "tagged owned")


def _delete_volume(role: AssumedRole, session: boto3.Session, item: Tagged) -> CleanupItem | None:
    ec2: EC2Client = role.client(session, "ec2")
    volumes = role.call(
        "ec2:DescribeVolumes", lambda: ec2.describe_volumes(VolumeIds=[item.short_id])
    )["Volumes"]
    if not volumes:
        return None
    state = volumes[0]["State"]
    if state != "available":
        attached = ", ".join(a["InstanceId"] for a in volumes[0].get("Attachments", []))
        detail = f"volume is {state}" + (f" (attached to {attached})" if attached else "")
        return CleanupItem(item.kind, item.arn, "reported", detail)
    role.call("ec2:DeleteVolume", lambda: ec2.delete_volume(VolumeId=item.short_id))
    return CleanupItem(item.kind, item.arn, "deleted", "tagged owned, detached")
