"""The identity rule for tagged AWS resources, case by case (no AWS here)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from provisioning.aws.owned import judge
from provisioning.aws.tagged import Facts, Tagged, kind_of
from provisioning.cloud import CloudTarget

BORN = datetime(2026, 3, 1, tzinfo=UTC)
TARGET = CloudTarget("e1", "demo", "sandbox", BORN, ended_at=BORN + timedelta(days=2))
LB = "arn:aws:elasticloadbalancing:us-west-2:1:loadbalancer/app/k8s-x/1"
SG = "arn:aws:ec2:us-west-2:1:security-group/sg-1"
OWNED = {"kubernetes.io/cluster/demo": "owned"}


def _item(arn: str, **tags: str) -> Tagged:
    return Tagged(arn, kind_of(arn), "owned", OWNED | tags)


@pytest.mark.parametrize(
    ("item", "facts", "target", "ours"),
    [
        (_item(LB), Facts(BORN + timedelta(hours=1)), TARGET, True),
        (_item(LB), Facts(BORN - timedelta(hours=1)), TARGET, False),  # before the env
        (_item(LB), Facts(BORN + timedelta(days=3)), TARGET, False),  # after it ended
        (_item(LB), Facts(BORN + timedelta(hours=1)), replace(TARGET, name_taken=True), False),
        (_item(LB), Facts(), TARGET, False),  # no creation time
        (_item(LB, **{"envbot.io/env-id": "e2"}), Facts(BORN), TARGET, False),
        (_item(LB, **{"envbot.io/env-id": "e1"}), Facts(), replace(TARGET, name_taken=True), True),
        (Tagged(LB, kind_of(LB), "shared", {}), Facts(BORN), TARGET, False),
        (_item(SG), Facts(vpc="vpc-env"), TARGET, True),
        (_item(SG), Facts(vpc="vpc-default"), TARGET, False),
        # another install sharing the account: its env ids are not ours, even when equal
        (
            _item(LB, **{"envbot.io/env-id": "e1", "envbot.io/install-id": "inst-b"}),
            Facts(BORN),
            replace(TARGET, install_id="inst-a"),
            False,
        ),
        (
            _item(LB, **{"envbot.io/env-id": "e1", "envbot.io/install-id": "inst-a"}),
            Facts(),
            replace(TARGET, install_id="inst-a"),
            True,
        ),
    ],
)
def test_only_what_is_provably_the_environments_is_ours(
    item: Tagged, facts: Facts, target: CloudTarget, ours: bool
) -> None:
    assert judge(item, facts, target, {"vpc-env"})[0] is ours
