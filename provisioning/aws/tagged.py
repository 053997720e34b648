"""Resources tagged for a cluster or an environment (Resource Groups Tagging API), and their facts.

The facts are what the ownership rule (`owned.py`) weighs: when a load balancer or volume was
created, which VPC a security group or target group is in, and a load balancer's DNS name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast

import boto3

from bot.errors import PermanentError
from provisioning.aws.errors import GONE, cause_code
from provisioning.aws.session import CLIENT_CONFIG, AssumedRole
from provisioning.cloud import CloudTarget

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_elbv2.client import ElasticLoadBalancingv2Client

CLUSTER_TAG = "kubernetes.io/cluster/{}"
CAPA_TAG = "sigs.k8s.io/cluster-api-provider-aws/cluster/{}"
SERVICE_TAG = "kubernetes.io/service-name"
ENV_ID_TAG = "envbot.io/env-id"
INSTALL_ID_TAG = "envbot.io/install-id"
LOAD_BALANCER = "elasticloadbalancing:loadbalancer"
TARGET_GROUP = "elasticloadbalancing:targetgroup"
VOLUME = "ec2:volume"
SECURITY_GROUP = "ec2:security-group"
VPC = "ec2:vpc"
# Load balancers go first: their network interfaces hold the security groups.
DELETE_ORDER = (LOAD_BALANCER, TARGET_GROUP, VOLUME, SECURITY_GROUP)


class ClassicElb(Protocol):
    """The two classic ELB calls used here (boto3-stubs `elb` is not installed)."""

    def describe_load_balancers(self, *, LoadBalancerNames: list[str]) -> Mapping[str, Any]: ...

    def delete_load_balancer(self, *, LoadBalancerName: str) -> object: ...


@dataclass(frozen=True)
class Tagged:
    """A resource tagged for the cluster or the environment: ARN, `<service>:<type>`, its tags."""

    arn: str
    kind: str
    ownership: str  # the cluster tag's value: "owned" or "shared" ("owned" if only env-tagged)
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def resource(self) -> str:
        """The ARN's resource part, e.g. `volume/vol-123` or `loadbalancer/app/x/1`."""
        return self.arn.split(":", 5)[5]

    @property
    def short_id(self) -> str:
        """The last path element of the resource: a volume, group or classic ELB name."""
        return self.resource.rsplit("/", 1)[-1]

    @property
    def elbv2(self) -> bool:
        """An application, network or gateway load balancer (not a classic ELB)."""
        return self.resource.startswith(
            ("loadbalancer/app/", "loadbalancer/net/", "loadbalancer/gwy/")
        )


@dataclass(frozen=True)
class Facts:
    """What AWS says of one resource; `gone` when it no longer exists."""

    created: datetime | None = None
    vpc: str = ""
    dns_name: str = ""
    gone: bool = False


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


def scan(
    role: AssumedRole, session: boto3.Session, key: str, values: list[str]
) -> dict[str, dict[str, str]]:
    """ARN -> all its tags, for every resource carrying `key` (with one of `values`, if any)."""
    tagging = session.client(
        "resourcegroupstaggingapi",
        region_name=role.region,
        endpoint_url=role.endpoint_url,
        config=CLIENT_CONFIG,
    )
    flt = {"Key": key, "Values": values} if values else {"Key": key}

    def pages() -> dict[str, dict[str, str]]:
        paginator = tagging.get_paginator("get_resources")
        return {
            mapping["ResourceARN"]: {t["Key"]: t["Value"] for t in mapping.get("Tags", [])}
            for page in paginator.paginate(TagFilters=[flt])  # type: ignore[list-item]
            for mapping in page["ResourceTagMappingList"]
        }

    return role.call("tag:GetResources", pages)


def find_tagged(role: AssumedRole, session: boto3.Session, target: CloudTarget) -> list[Tagged]:
    """Every resource tagged for the cluster name or for the environment id, in delete order."""
    found: dict[str, dict[str, str]] = {}
    for key, values in (
        (CLUSTER_TAG.format(target.cluster), ["owned", "shared"]),
        (CAPA_TAG.format(target.cluster), []),
        (ENV_ID_TAG, [target.env_id]),
    ):
        found.update(scan(role, session, key, values))
    order = {kind: i for i, kind in enumerate(DELETE_ORDER)}
    items = [
        Tagged(arn, kind_of(arn), _ownership(tags, target.cluster), tags)
        for arn, tags in found.items()
    ]
    return sorted(items, key=lambda t: (order.get(t.kind, len(order)), t.arn))


def _ownership(tags: Mapping[str, str], cluster: str) -> str:
    value = tags.get(CLUSTER_TAG.format(cluster), tags.get(CAPA_TAG.format(cluster), "owned"))
    return "owned" if value == "owned" else "shared"


def facts(role: AssumedRole, session: boto3.Session, item: Tagged) -> Facts:
    """Creation time, VPC and DNS name of one resource, as far as its kind has them.

    Raises:
        PermanentError: the describe call was refused (e.g. access denied).
    """
    try:
        return _describe(role, session, item)
    except PermanentError as err:
        if cause_code(err) in GONE:
            return Facts(gone=True)
        raise


def _describe(role: AssumedRole, session: boto3.Session, item: Tagged) -> Facts:
    if item.kind == LOAD_BALANCER and item.elbv2:
        elbv2: ElasticLoadBalancingv2Client = role.client(session, "elbv2")
        lbs = role.call(
            "elbv2:DescribeLoadBalancers",
            partial(elbv2.describe_load_balancers, LoadBalancerArns=[item.arn]),
        )["LoadBalancers"]
        if not lbs:
            return Facts(gone=True)
        return Facts(lbs[0]["CreatedTime"], lbs[0].get("VpcId", ""), lbs[0]["DNSName"].lower())
    if item.kind == LOAD_BALANCER:
        elb = cast(ClassicElb, role.client(session, "elb"))
        found = role.call(
            "elb:DescribeLoadBalancers",
            partial(elb.describe_load_balancers, LoadBalancerNames=[item.short_id]),
        )["LoadBalancerDescriptions"]
        if not found:
            return Facts(gone=True)
        lb = found[0]
        return Facts(lb["CreatedTime"], str(lb.get("VPCId", "")), str(lb["DNSName"]).lower())
    ec2: EC2Client = role.client(session, "ec2")
    if item.kind == VOLUME:
        volumes = role.call(
            "ec2:DescribeVolumes", partial(ec2.describe_volumes, VolumeIds=[item.short_id])
        )["Volumes"]
        return Facts(volumes[0]["CreateTime"]) if volumes else Facts(gone=True)
    if item.kind == SECURITY_GROUP:
        groups = role.call(
            "ec2:DescribeSecurityGroups",
            partial(ec2.describe_security_groups, GroupIds=[item.short_id]),
        )["SecurityGroups"]
        return Facts(vpc=groups[0].get("VpcId", "")) if groups else Facts(gone=True)
    if item.kind == TARGET_GROUP:
        elbv2 = role.client(session, "elbv2")
        tgs = role.call(
            "elbv2:DescribeTargetGroups",
            partial(elbv2.describe_target_groups, TargetGroupArns=[item.arn]),
        )["TargetGroups"]
        return Facts(vpc=tgs[0].get("VpcId", "")) if tgs else Facts(gone=True)
    return Facts()


def env_vpcs(items: Iterable[Tagged], env_id: str) -> frozenset[str]:
    """The VPC ids tagged with this environment's id (CAPA propagates its additionalTags)."""
    return frozenset(
        t.short_id for t in items if t.kind == VPC and t.tags.get(ENV_ID_TAG) == env_id
    )
