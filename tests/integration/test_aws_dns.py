"""Route53 cleanup against moto: only this environment's external-dns records go, with their TXTs.

The zone holds the management cluster's record, another cluster's records (some for services in
namespaces named like the environment), records pointing at this environment under another
owner or with no registry TXT, hand-made records, and more than one page of records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.policy.housekeeping import Cleanup, Dns
from bot.policy.models import Aws
from provisioning.aws import AwsCleaner
from provisioning.aws.route53 import list_zone
from provisioning.aws.session import AssumedRole
from provisioning.cloud import CloudTarget
from tests.fakes.moto_server import REGION, ROLE, client

ZONE = "demo.example.com"
OURS = ("k8s-ours-1a2b.elb.us-west-2.amazonaws.com", "k8s-ours-3c4d.elb.us-west-2.amazonaws.com")
ELB_ZONE = "Z1H1FL5HABSF5"  # the us-west-2 ELB hosted zone, as external-dns writes aliases
FILLER = 150


def _labels(owner: str, resource: str) -> str:
    return f'"heritage=external-dns,external-dns/owner={owner},external-dns/resource={resource}"'


def _txt(name: str, value: str) -> dict[str, Any]:
    return {"Name": name, "Type": "TXT", "TTL": 300, "ResourceRecords": [{"Value": value}]}


def _cname(name: str, target: str) -> dict[str, Any]:
    return {"Name": name, "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": target}]}


def _alias(name: str, kind: str, target: str) -> dict[str, Any]:
    alias = {
        "HostedZoneId": ELB_ZONE,
        "DNSName": f"dualstack.{target}.",
        "EvaluateTargetHealth": True,
    }
    return {"Name": name, "Type": kind, "AliasTarget": alias}


def _registry(name: str, kinds: list[str], owner: str, resource: str) -> list[dict[str, Any]]:
    """The TXTs external-dns writes for `name`: legacy (unless AAAA only) and one per type."""
    first, _, rest = name.partition(".")
    value = _labels(owner, resource)
    txts = [_txt(f"_externaldns-{name}", value)] if kinds != ["aaaa"] else []
    return txts + [_txt(f"_externaldns-{k}-{first}.{rest}", value) for k in kinds]


def _seed(url: str, env: str) -> tuple[str, set[tuple[str, str]]]:
    """The zone; returns its id and the (name, type) pairs that are this environment's."""
    route53 = client(url, "route53")
    zone = route53.create_hosted_zone(Name=ZONE, CallerReference=f"envbot-{env}")
    zone_id = zone["HostedZone"]["Id"].removeprefix("/hostedzone/")
    ingress = f"{env}.{ZONE}"
    ours = [
        _cname(f"app.{ZONE}", OURS[0]),
        *_registry(f"app.{ZONE}", ["cname"], "kommander", f"ingress/{env}/app"),
        _alias(f"grafana.{ZONE}", "A", OURS[1]),
        _alias(f"grafana.{ZONE}", "AAAA", OURS[1]),
        *_registry(f"grafana.{ZONE}", ["a", "aaaa"], "kommander", "service/monitoring/grafana"),
        _cname(ingress, "ingress-7.elb.us-west-2.amazonaws.com"),
        *_registry(ingress, ["cname"], "kommander", "service/kommander/kommander-traefik"),
        _cname(f"zz-late.{ZONE}", OURS[0]),
        *_registry(f"zz-late.{ZONE}", ["cname"], "kommander", "service/apps/late"),
    ]
    others = [
        # the management cluster: DKP UI, dex and Generate Token
        _alias(f"management.{ZONE}", "A", "mgmt-9z.elb.us-west-2.amazonaws.com"),
        *_registry(f"management.{ZONE}", ["a"], "kommander", "service/kommander/kommander-traefik"),
        # another cluster, with services in namespaces named like this environment
        _cname(f"grafana.other.{ZONE}", "other-1.elb.us-west-2.amazonaws.com"),
        *_registry(f"grafana.other.{ZONE}", ["cname"], "kommander", f"service/{env}/grafana"),
        _cname(f"traefik.other.{ZONE}", "other-2.elb.us-west-2.amazonaws.com"),
        *_registry(f"traefik.other.{ZONE}", ["cname"], "kommander", "service/kommander/traefik"),
        _cname(f"prom.other.{ZONE}", "other-3.elb.us-west-2.amazonaws.com"),
        *_registry(f"prom.other.{ZONE}", ["cname"], "kommander", "service/monitoring/prometheus"),
        # pointing at this environment, but another owner (with "owner=kommander" as a substring)
        _cname(f"team.{ZONE}", OURS[0]),
        *_registry(f"team.{ZONE}", ["cname"], "kommander-old", "service/x/owner=kommander"),
        # pointing at this environment, but no external-dns heritage: not a registry record
        _cname(f"manual.{ZONE}", OURS[0]),
        _txt(f"_externaldns-manual.{ZONE}", '"heritage=someone-else,external-dns/owner=kommander"'),
        # hand-made
        _cname(f"docs.{ZONE}", "docs.example.org"),
    ]
    for i in range(FILLER):
        name = f"svc-{i:03d}.other.{ZONE}"
        others += [_cname(name, f"other-{i}.elb.us-west-2.amazonaws.com")]
        others += _registry(name, ["cname"], "kommander", f"service/{env}/svc-{i}")
    records = ours + others
    for start in range(0, len(records), 100):
        changes = [
            {"Action": "CREATE", "ResourceRecordSet": r} for r in records[start : start + 100]
        ]
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return zone_id, {(r["Name"], r["Type"]) for r in ours}


def _records(url: str, zone_id: str) -> set[tuple[str, str]]:
    pages = client(url, "route53").get_paginator("list_resource_record_sets")
    return {
        (r["Name"].removesuffix("."), r["Type"])
        for page in pages.paginate(HostedZoneId=zone_id)
        for r in page["ResourceRecordSets"]
        if r["Type"] not in ("NS", "SOA")
    }


@pytest.mark.parametrize("env", ["demo", "kommander", "monitoring"])
def test_only_this_environments_records_go_with_their_txts(
    moto_url: str, env: str, figure: Callable[[str], None]
) -> None:
    # setup
    zone_id, ours = _seed(moto_url, env)
    before = _records(moto_url, zone_id)
    target = CloudTarget(
        env_id="e1",
        cluster=env,
        workspace="sandbox",
        created_at=datetime(2020, 1, 1, tzinfo=UTC),
        hosts=frozenset(OURS),
        ingress_host=f"{env}.{ZONE}",
    )
    cleaner = AwsCleaner(Dns(zones=(zone_id,)), Cleanup(), Aws(role_arn=ROLE, region=REGION),
                         endpoint_url=moto_url)  # fmt: skip

    # execution
    report = cleaner.cleanup(target)

    # validating: exactly this environment's records and their TXTs are gone
    after = _records(moto_url, zone_id)
    assert before - after == ours
    assert {(i.id, i.kind.removeprefix("route53:")) for i in report.by_action("deleted")} == ours
    assert {i.id for i in report.by_action("reported")} == {f"team.{ZONE}", f"manual.{ZONE}"}
    assert (f"management.{ZONE}", "A") in after
    assert (f"grafana.other.{ZONE}", "CNAME") in after
    assert len(before) > 2 * FILLER
    reported = len(report.by_action("reported"))
    figure(f"records before={len(before)} after={len(after)}; reported={reported}")


def test_a_zone_is_read_past_one_page(moto_url: str) -> None:
    # setup
    zone_id, _ = _seed(moto_url, "demo")
    role = AssumedRole(Aws(role_arn=ROLE, region=REGION), endpoint_url=moto_url)

    # execution: pages of 100, as the cleaner reads them
    listed = list_zone(role, client(moto_url, "route53"), zone_id, page_size=100)

    # validating: every record, none twice (NS and SOA included)
    assert len(listed) == len(_records(moto_url, zone_id)) + 2
    assert len({(r["Name"], r["Type"], r.get("SetIdentifier", "")) for r in listed}) == len(listed)
    assert len(listed) > 300
