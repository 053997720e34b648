"""The external-dns ownership rule for Route53 records, and the deletion of a cluster's records."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import boto3

from bot.errors import PermanentError
from bot.policy.housekeeping import Dns
from provisioning.aws.errors import cause_code
from provisioning.aws.session import CLIENT_CONFIG, AssumedRole
from provisioning.cloud import Action, CleanupItem

if TYPE_CHECKING:
    from mypy_boto3_route53.client import Route53Client
    from mypy_boto3_route53.type_defs import ChangeTypeDef, ResourceRecordSetOutputTypeDef

_OWNED_TYPES = frozenset({"A", "AAAA", "CNAME"})
_NEW_FORMAT = re.compile(r"(a|aaaa|cname)-(.+)")


@dataclass
class Ownership:
    """One external-dns name: its registry TXT records and the records they own."""

    name: str
    txts: list[ResourceRecordSetOutputTypeDef] = field(default_factory=list)
    records: list[ResourceRecordSetOutputTypeDef] = field(default_factory=list)
    resources: set[str] = field(default_factory=set)


def _normalize(name: str) -> str:
    """Lowercase, trailing dot, and Route53's `\\052` back to `*`."""
    name = name.replace("\\052", "*").lower()
    return name if name.endswith(".") else f"{name}."


def _display(name: str) -> str:
    return name.removesuffix(".")


def _txt_fields(record: ResourceRecordSetOutputTypeDef) -> dict[str, str]:
    text = "".join(
        part
        for value in record.get("ResourceRecords", [])
        for part in re.findall(r'"((?:[^"\\]|\\.)*)"', value["Value"]) or [value["Value"]]
    )
    fields: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, val = pair.partition("=")
        if sep:
            fields[key.strip()] = val.strip()
    return fields


def _target(record: ResourceRecordSetOutputTypeDef) -> str:
    """Where an A/AAAA/CNAME points, normalized like a load balancer DNS name."""
    if "AliasTarget" in record:
        value = record["AliasTarget"]["DNSName"]
    else:
        values = record.get("ResourceRecords", [])
        value = values[0]["Value"] if values else ""
    return value.lower().removesuffix(".").removeprefix("dualstack.")


def ownerships(
    records: Sequence[ResourceRecordSetOutputTypeDef], prefix: str, owner_id: str
) -> list[Ownership]:
    """Group a zone's records by the name each external-dns registry TXT owns (rule 1)."""
    by_name: dict[str, list[ResourceRecordSetOutputTypeDef]] = {}
    for record in records:
        if record["Type"] in _OWNED_TYPES:
            by_name.setdefault(_normalize(record["Name"]), []).append(record)
    groups: dict[str, Ownership] = {}
    prefix = prefix.lower()
    for record in records:
        name = _normalize(record["Name"])
        if record["Type"] != "TXT" or not name.startswith(prefix):
            continue
        fields = _txt_fields(record)
        if fields.get("heritage") != "external-dns" or fields.get("external-dns/owner") != owner_id:
            continue
        rest = name[len(prefix) :]
        candidates: list[tuple[str, frozenset[str]]] = []
        if match := _NEW_FORMAT.fullmatch(rest):
            candidates.append((match.group(2), frozenset({match.group(1).upper()})))
        candidates.append((rest, _OWNED_TYPES))
        owned, types = next(
            (
                (cand, kinds)
                for cand, kinds in candidates
                if any(r["Type"] in kinds for r in by_name.get(cand, []))
            ),
            candidates[0],
        )
        group = groups.setdefault(owned, Ownership(owned))
        group.txts.append(record)
        if resource := fields.get("external-dns/resource"):
            group.resources.add(resource.lower())
        for target in by_name.get(owned, []):
            if target["Type"] in types and target not in group.records:
                group.records.append(target)
    return list(groups.values())


def evidence(group: Ownership, cluster: str, lb_dns: set[str]) -> str:
    """Why `group` belongs to `cluster` (rule 2), or "" when there is no such evidence."""
    for record in group.records:
        if _target(record) in lb_dns:
            return f"points at a load balancer tagged for {cluster}"
    if cluster in group.name.removesuffix(".").split("."):
        return f"{cluster} is a label of the name"
    for resource in sorted(group.resources):
        if cluster in resource.split("/"):
            return f"external-dns resource {resource}"
    return ""


def _mentions(group: Ownership, cluster: str) -> bool:
    return cluster in group.name or any(cluster in res for res in group.resources)


def clean_dns(
    role: AssumedRole, session: boto3.Session, dns: Dns, cluster: str, lb_dns: set[str]
) -> Iterator[CleanupItem]:
    """Delete the cluster's external-dns records in `dns.zones`; report the doubtful ones.

    Ownership rule (conservative; anything else is left alone):

    1. A registry TXT record is one whose name starts with `dns.txt_prefix` (optionally
       followed by the new-format `a-` / `aaaa-` / `cname-`) and whose value has
       `heritage=external-dns` and exactly `external-dns/owner=<dns.txt_owner_id>`. It owns the
       A/AAAA/CNAME records at the name without the prefix. DKP runs every external-dns with
       the same owner id ("kommander"), so the owner alone does not say which cluster a record
       was for.
    2. The TXT and the records it owns are deleted together only with evidence for this
       cluster: the owned record points at a load balancer tagged for the cluster, or the
       cluster name is a whole DNS label of the owned name (`*.sandbox-alice-7k2q.example.com`),
       or a whole path segment of the TXT's `external-dns/resource=` value.
    3. A registry record that mentions the cluster name only as part of a label or segment
       (`sandbox-alice-7k2q-old.example.com`) is reported, never deleted: a person decides.

    Args:
        role: makes the calls and translates their errors.
        session: a Session acting as the workspace role.
        dns: `policy.dns`: the zones, the registry TXT prefix and owner id.
        cluster: the cluster name, lowercase.
        lb_dns: DNS names of the load balancers tagged for the cluster.
    """
    route53: Route53Client = session.client(
        "route53", endpoint_url=role.endpoint_url, config=CLIENT_CONFIG
    )
    for zone in dns.zones:
        zone_id = zone.removeprefix("/hostedzone/")

        def records(zone_id: str = zone_id) -> list[ResourceRecordSetOutputTypeDef]:
            pages = route53.get_paginator("list_resource_record_sets").paginate(
                HostedZoneId=zone_id
            )
            return [record for page in pages for record in page["ResourceRecordSets"]]

        listed = role.call("route53:ListResourceRecordSets", records)
        for group in ownerships(listed, dns.txt_prefix, dns.txt_owner_id):
            why = evidence(group, cluster, lb_dns)
            if why:
                yield from _delete_records(role, route53, zone_id, group, why)
            elif _mentions(group, cluster):
                for record in group.records + group.txts:
                    yield CleanupItem(
                        f"route53:{record['Type']}",
                        _display(record["Name"]),
                        "reported",
                        f"external-dns record mentions {cluster} only in part of a name; "
                        "check it by hand",
                    )


def _delete_records(
    role: AssumedRole, route53: Route53Client, zone_id: str, group: Ownership, why: str
) -> Iterator[CleanupItem]:
    """Delete the owned records and their TXT in one atomic change batch."""
    batch = group.records + group.txts
    changes: list[ChangeTypeDef] = [
        {"Action": "DELETE", "ResourceRecordSet": record} for record in batch
    ]
    action: Action = "deleted"
    detail = f"external-dns record: {why}"
    try:
        role.call(
            "route53:ChangeResourceRecordSets",
            lambda: route53.change_resource_record_sets(
                HostedZoneId=zone_id,
                ChangeBatch={"Comment": "envbot cloud cleanup", "Changes": changes},
            ),
        )
    except PermanentError as err:
        if cause_code(err) != "InvalidChangeBatch":
            raise
        action, detail = "failed", f"records changed meanwhile, retried next time: {err}"
    for record in batch:
        yield CleanupItem(f"route53:{record['Type']}", _display(record["Name"]), action, detail)
