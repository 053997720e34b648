"""One delete call per resource kind, with AWS's answers mapped to a cleanup item."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import boto3

from bot.errors import PermanentError
from provisioning.aws.errors import GONE, RETRY_LATER, cause_code
from provisioning.aws.session import AssumedRole
from provisioning.aws.tagged import (
    SECURITY_GROUP,
    TARGET_GROUP,
    VOLUME,
    ClassicElb,
    Tagged,
)
from provisioning.cloud import CleanupItem

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_elbv2.client import ElasticLoadBalancingv2Client


def delete_one(
    role: AssumedRole, session: boto3.Session, item: Tagged, why: str
) -> CleanupItem | None:
    """Delete one resource already judged ours; None when it was already gone.

    A refusal that goes away by itself (a dependency) is `failed` and retried; one that does
    not (access denied) is `reported`, so the other resources still go.
    """
    try:
        if item.kind == VOLUME:
            return _delete_volume(role, session, item, why)
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
        elif item.elbv2:
            elbv2 = role.client(session, "elbv2")
            role.call(
                "elbv2:DeleteLoadBalancer",
                lambda: elbv2.delete_load_balancer(LoadBalancerArn=item.arn),
            )
        else:
            elb = cast(ClassicElb, role.client(session, "elb"))
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
        return CleanupItem(item.kind, item.arn, "reported", f"{err}; delete it by hand")
    return CleanupItem(item.kind, item.arn, "deleted", why)


def _delete_volume(
    role: AssumedRole, session: boto3.Session, item: Tagged, why: str
) -> CleanupItem | None:
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
    return CleanupItem(item.kind, item.arn, "deleted", f"{why}, detached")
