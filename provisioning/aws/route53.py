"""Deletes the Route53 records external-dns made for one cluster, and nothing else.

A record is this environment's only when (1) every registry TXT that labels it names exactly the
configured owner (`dns.txt_owner_id`, parsed as external-dns parses it; see `registry`) and (2)
it points at one of the hosts recorded for the environment (its load balancers' DNS names, taken
before they were deleted, and its ingress host) or it is named as the ingress host. Never a
substring or a label match: another cluster's, the management cluster's and hand-made records
stay. A record that points at the environment's hosts but fails (1) is reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import boto3

from bot.errors import PermanentError
from bot.policy.housekeeping import Dns
from provisioning.aws.errors import cause_code
from provisioning.aws.registry import Key, normalize, parse_labels, record_key, txt_key
from provisioning.aws.session import CLIENT_CONFIG, AssumedRole
from provisioning.cloud import Action, CleanupItem, CloudTarget

if TYPE_CHECKING:
    from mypy_boto3_route53.client import Route53Client
    from mypy_boto3_route53.type_defs import (
        ChangeTypeDef,
        PaginatorConfigTypeDef,
        ResourceRecordSetOutputTypeDef,
    )

    Record = ResourceRecordSetOutputTypeDef

OWNED_TYPES = frozenset({"A", "AAAA", "CNAME"})
PAGE_SIZE = 100


@dataclass
class Labelled:
    """The registry TXTs at one key, with their labels and record types, and the records."""

    txts: list[tuple[Record, dict[str, str], str]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    """What to do with the records at one key: a batch to delete, or items to report."""

    delete: tuple[Record, ...] = ()
    report: tuple[tuple[Record, str], ...] = ()


def targets(record: Record) -> set[str]:
    """Every host or address a record points at, normalized like a load balancer DNS name."""
    if "AliasTarget" in record:
        values = [record["AliasTarget"]["DNSName"]]
    else:
        values = [value["Value"] for value in record.get("ResourceRecords", [])]
    return {normalize(value).removeprefix("dualstack.") for value in values}


def labelled(records: Sequence[Record], prefix: str) -> dict[Key, Labelled]:
    """Group a zone's records and registry TXTs by the key external-dns labels them with."""
    groups: dict[Key, Labelled] = {}
    for record in records:
        set_id = record.get("SetIdentifier", "")
        if record["Type"] in OWNED_TYPES:
            key = record_key(record["Name"], record["Type"], set_id)
            groups.setdefault(key, Labelled()).records.append(record)
        elif record["Type"] == "TXT" and record.get("ResourceRecords"):
            # external-dns reads the first value only ("one target" in registry/txt.go)
            labels = parse_labels(record["ResourceRecords"][0]["Value"])
            found = txt_key(record["Name"], set_id, prefix)
            if labels is not None and found is not None:
                key, kind = found
                groups.setdefault(key, Labelled()).txts.append((record, labels, kind))
    return groups


def judge(group: Labelled, owner_id: str, target: CloudTarget) -> Verdict:
    """Decide one key's records for `target` (the rule in the module docstring)."""
    hosts = {normalize(h) for h in target.hosts}
    named = normalize(target.ingress_host) if target.ingress_host else ""
    ours: list[Record] = []
    report: list[tuple[Record, str]] = []
    owners = sorted({labels.get("owner", "") for _, labels, _ in group.txts})
    for record in group.records:
        by_name = bool(named) and normalize(record["Name"]) == named
        if not (targets(record) & hosts or by_name):
            continue
        if not group.txts:
            report.append((record, "points at this environment but has no external-dns TXT"))
        elif owners != [owner_id]:
            who = ", ".join(o or "(none)" for o in owners)
            report.append(
                (record, f"points at this environment but its external-dns owner is {who}")
            )
        elif by_name and not targets(record) & hosts and target.name_taken:
            report.append(
                (record, f"named like the ingress host and {target.cluster} is live again")
            )
        else:
            ours.append(record)
    if not ours:
        return Verdict(report=tuple(report))
    if len(ours) == len(group.records):
        txts = [txt for txt, _, _ in group.txts]
    else:  # a legacy TXT also labels what stays: only the typed TXTs of what goes
        kinds = {r["Type"].lower() for r in ours}
        txts = [txt for txt, _, kind in group.txts if kind in kinds]
    return Verdict(tuple(ours + txts), tuple(report))


def _client(role: AssumedRole, session: boto3.Session) -> Route53Client:
    return session.client("route53", endpoint_url=role.endpoint_url, config=CLIENT_CONFIG)


def list_zone(
    role: AssumedRole, route53: Route53Client, zone_id: str, page_size: int = PAGE_SIZE
) -> list[Record]:
    """Every record of a zone, page by page (StartRecordName/StartRecordType)."""

    def pages() -> list[Record]:
        paginator = route53.get_paginator("list_resource_record_sets")
        config: PaginatorConfigTypeDef = {"PageSize": page_size}
        return [
            record
            for page in paginator.paginate(HostedZoneId=zone_id, PaginationConfig=config)
            for record in page["ResourceRecordSets"]
        ]

    return role.call("route53:ListResourceRecordSets", pages)


def clean_dns(
    role: AssumedRole,
    session: boto3.Session,
    dns: Dns,
    target: CloudTarget,
    page_size: int = PAGE_SIZE,
) -> Iterator[CleanupItem]:
    """Delete the environment's external-dns records in `dns.zones`, each with its TXTs.

    A zone that cannot be read or changed for good (AccessDenied: the zone is in another
    account) is reported and the other zones still run.
    """
    route53 = _client(role, session)
    for zone in dns.zones:
        zone_id = zone.removeprefix("/hostedzone/")
        try:
            listed = list_zone(role, route53, zone_id, page_size)
        except PermanentError as err:
            yield CleanupItem("route53:hostedzone", zone_id, "reported", f"{err}; check by hand")
            continue
        for group in labelled(listed, dns.txt_prefix).values():
            verdict = judge(group, dns.txt_owner_id, target)
            for record, why in verdict.report:
                yield _item(record, "reported", why)
            if verdict.delete and target.dry_run:
                for record in verdict.delete:
                    yield _item(record, "would_delete", "external-dns record of this environment")
            elif verdict.delete:
                yield from _delete(role, route53, zone_id, verdict.delete)


def _item(record: Record, action: Action, detail: str) -> CleanupItem:
    return CleanupItem(f"route53:{record['Type']}", normalize(record["Name"]), action, detail)


def _delete(
    role: AssumedRole, route53: Route53Client, zone_id: str, batch: Sequence[Record]
) -> Iterator[CleanupItem]:
    """Delete records and their TXTs in one atomic change batch."""
    changes: list[ChangeTypeDef] = [{"Action": "DELETE", "ResourceRecordSet": r} for r in batch]
    action: Action = "deleted"
    detail = "external-dns record of this environment (owner and target checked)"
    try:
        role.call(
            "route53:ChangeResourceRecordSets",
            lambda: route53.change_resource_record_sets(
                HostedZoneId=zone_id,
                ChangeBatch={"Comment": "envbot cloud cleanup", "Changes": changes},
            ),
        )
    except PermanentError as err:
        code = cause_code(err)
        if code == "InvalidChangeBatch":
            action, detail = "failed", f"records changed meanwhile, retried next time: {err}"
        else:
            action, detail = "reported", f"{err}; delete it by hand"
    for record in batch:
        yield _item(record, action, detail)
