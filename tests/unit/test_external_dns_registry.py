"""external-dns's TXT registry as envbot reads it, and the per-record verdict (no AWS here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from provisioning.aws.registry import endpoint_of, parse_labels
from provisioning.aws.route53 import judge, labelled
from provisioning.cloud import CloudTarget

LB = "k8s-ours.elb.us-west-2.amazonaws.com"
TARGET = CloudTarget(
    env_id="e1",
    cluster="demo",
    workspace="sandbox",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    hosts=frozenset({LB}),
    ingress_host="demo.example.com",
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '"heritage=external-dns,external-dns/owner=kommander,'
            'external-dns/resource=service/kommander/traefik"',
            {"owner": "kommander", "resource": "service/kommander/traefik"},
        ),
        ('"heritage=external-dns,external-dns/owner=kommander-old"', {"owner": "kommander-old"}),
        # a token with two `=` is skipped, as external-dns skips it
        ('"heritage=external-dns,external-dns/resource=a/owner=kommander"', {}),
        ('"heritage=other,external-dns/owner=kommander"', None),
        ('"external-dns/owner=kommander"', None),
        ("v=spf1 include:example.com", None),
    ],
)
def test_labels_are_parsed_as_external_dns_parses_them(
    value: str, expected: dict[str, str] | None
) -> None:
    assert parse_labels(value) == expected


@pytest.mark.parametrize(
    ("name", "prefix", "expected"),
    [
        ("_externaldns-app.example.com.", "_externaldns-", ("app.example.com", "")),
        ("_externaldns-cname-app.example.com.", "_externaldns-", ("app.example.com", "cname")),
        ("_externaldns-aaaa-app.example.com", "_externaldns-", ("app.example.com", "aaaa")),
        ("_externaldns-a-app.example.com", "_externaldns-", ("app.example.com", "a")),
        ("txt-cname.app.example.com", "txt-%{record_type}.", ("app.example.com", "cname")),
        ("app.example.com", "_externaldns-", None),
    ],
)
def test_txt_names_map_to_their_record(
    name: str, prefix: str, expected: tuple[str, str] | None
) -> None:
    assert endpoint_of(name, prefix) == expected


def _txt(name: str, owner: str) -> dict[str, Any]:
    value = f'"heritage=external-dns,external-dns/owner={owner}"'
    return {"Name": name, "Type": "TXT", "ResourceRecords": [{"Value": value}]}


def _cname(name: str, target: str) -> dict[str, Any]:
    return {"Name": name, "Type": "CNAME", "ResourceRecords": [{"Value": target}]}


def _verdicts(records: list[dict[str, Any]], target: CloudTarget = TARGET) -> list[Any]:
    return [judge(g, "kommander", target) for g in labelled(records, "_externaldns-").values()]  # type: ignore[arg-type]


def test_a_record_of_ours_goes_with_every_txt_that_labels_it() -> None:
    records = [
        _cname("app.example.com.", f"{LB}."),
        _txt("_externaldns-app.example.com.", "kommander"),
        _txt("_externaldns-cname-app.example.com.", "kommander"),
    ]
    [verdict] = _verdicts(records)
    assert {r["Name"] for r in verdict.delete} == {r["Name"] for r in records}


def test_two_txts_that_disagree_on_the_owner_keep_the_record() -> None:
    records = [
        _cname("app.example.com.", f"{LB}."),
        _txt("_externaldns-app.example.com.", "kommander"),
        _txt("_externaldns-cname-app.example.com.", "team-x"),
    ]
    [verdict] = _verdicts(records)
    assert verdict.delete == ()
    assert "team-x" in verdict.report[0][1]


def test_the_ingress_host_by_name_is_refused_once_the_name_is_live_again() -> None:
    records = [
        _cname("demo.example.com.", "elsewhere.example.net."),
        _txt("_externaldns-cname-demo.example.com.", "kommander"),
    ]
    taken = CloudTarget(**{**TARGET.__dict__, "name_taken": True})
    [mine] = _verdicts(records)
    [refused] = _verdicts(records, taken)
    assert len(mine.delete) == 2
    assert refused.delete == ()
    assert "live again" in refused.report[0][1]


def test_a_record_pointing_elsewhere_is_not_even_reported() -> None:
    records = [
        _cname("demo.other.example.com.", "other.elb.amazonaws.com."),
        _txt("_externaldns-demo.other.example.com.", "kommander"),
    ]
    [verdict] = _verdicts(records)
    assert (verdict.delete, verdict.report) == ((), ())
