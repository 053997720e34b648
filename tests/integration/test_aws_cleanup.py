"""boto3 against moto's server over loopback: identity, cleanup after a cluster, error mapping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest
import requests
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from bot.errors import PermanentError, TemporaryError
from bot.policy import PolicyError, validate_policy
from bot.policy.housekeeping import Cleanup, Dns
from bot.policy.models import Aws
from provisioning.aws import AwsCleaner, build_cloud_cleaner, kind_of, map_client_error
from provisioning.cloud import CleanupReport, FakeCloud, NoCloud, PerWorkspaceCloud

CLUSTER = "sandbox-alice-7k2q"
OTHER = "sandbox-bob-9x1z"
REGION = "us-west-2"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/envbot"
DELETE = ("elasticloadbalancing:loadbalancer", "ec2:volume", "ec2:security-group")


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[str]:
    """A fresh moto server on a free loopback port, with fake credentials in the environment."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    assert server._server is not None
    url = f"http://127.0.0.1:{server._server.server_port}"
    # moto's backends are process-wide: start from, and leave, an empty account
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    try:
        yield url
    finally:
        requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
        server.stop()


def _client(url: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=url)  # type: ignore[call-overload]


def _tags(cluster: str, value: str = "owned") -> list[dict[str, str]]:
    return [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": value}]


def _txt(name: str, owner: str, resource: str) -> dict[str, Any]:
    value = f'"heritage=external-dns,external-dns/owner={owner},external-dns/resource={resource}"'
    return {"Name": name, "Type": "TXT", "TTL": 300, "ResourceRecords": [{"Value": value}]}


def _cname(name: str, target: str) -> dict[str, Any]:
    return {"Name": name, "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": target}]}


def _seed(url: str) -> dict[str, str]:
    """One zone with external-dns records for two clusters, and resources tagged for them."""
    ec2, elbv2, route53 = _client(url, "ec2"), _client(url, "elbv2"), _client(url, "route53")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    alb = elbv2.create_load_balancer(
        Name="k8s-alice-ingress", Subnets=subnets, Tags=_tags(CLUSTER)
    )["LoadBalancers"][0]
    volume = ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=8,
        TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(CLUSTER)}],
    )["VolumeId"]
    other_volume = ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=8,
        TagSpecifications=[{"ResourceType": "volume", "Tags": _tags(OTHER)}],
    )["VolumeId"]
    group = ec2.create_security_group(
        GroupName=f"{CLUSTER}-lb",
        Description="lb",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags(CLUSTER)}],
    )["GroupId"]
    shared = ec2.create_security_group(
        GroupName="shared-nodes",
        Description="shared",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags(CLUSTER, "shared")}],
    )["GroupId"]
    s3 = _client(url, "s3")
    s3.create_bucket(
        Bucket=f"{CLUSTER}-logs", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    s3.put_bucket_tagging(Bucket=f"{CLUSTER}-logs", Tagging={"TagSet": _tags(CLUSTER)})

    zone = route53.create_hosted_zone(Name="example.com", CallerReference="envbot-test")
    zone_id = zone["HostedZone"]["Id"].removeprefix("/hostedzone/")
    records = [
        # ours by target: a CNAME to the cluster's ALB (new-format TXT)
        _txt("_externaldns-cname-app.dev.example.com", "kommander", "ingress/apps/app"),
        _cname("app.dev.example.com", alb["DNSName"]),
        # ours by name: the cluster name is a label (legacy-format TXT)
        _txt(f"_externaldns-grafana.{CLUSTER}.example.com", "kommander", "service/mon/grafana"),
        _cname(f"grafana.{CLUSTER}.example.com", "gone-123.us-west-2.elb.amazonaws.com"),
        # ambiguous: the cluster name is only part of a label
        _txt(f"_externaldns-cname-{CLUSTER}-old.example.com", "kommander", "service/x/y"),
        _cname(f"{CLUSTER}-old.example.com", "old-1.us-west-2.elb.amazonaws.com"),
        # another cluster's records
        _txt(f"_externaldns-cname-grafana.{OTHER}.example.com", "kommander", "service/mon/g"),
        _cname(f"grafana.{OTHER}.example.com", "bob-1.us-west-2.elb.amazonaws.com"),
        # another external-dns owner, and a hand-made record: never ours
        _txt(f"_externaldns-cname-api.{CLUSTER}.example.com", "team-x", "service/a/b"),
        _cname(f"api.{CLUSTER}.example.com", "team-x.us-west-2.elb.amazonaws.com"),
        _cname(f"docs.{CLUSTER}.example.com", "docs.example.org"),
    ]
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": r} for r in records]},
    )
    return {
        "zone": zone_id,
        "alb": alb["LoadBalancerArn"],
        "volume": volume,
        "other_volume": other_volume,
        "group": group,
        "shared": shared,
    }


def _cleaner(url: str, zone: str = "Zunused") -> AwsCleaner:
    return AwsCleaner(
        Dns(zones=(zone,)),
        Cleanup(delete=DELETE),
        Aws(role_arn=ROLE, region=REGION),
        endpoint_url=url,
    )


def _names(url: str, zone: str) -> set[tuple[str, str]]:
    pages = _client(url, "route53").get_paginator("list_resource_record_sets")
    return {
        (r["Name"].removesuffix("."), r["Type"])
        for page in pages.paginate(HostedZoneId=zone)
        for r in page["ResourceRecordSets"]
        if r["Type"] in {"TXT", "CNAME", "A"}
    }


def test_identity_assumes_the_workspace_role(moto_url: str) -> None:
    # setup
    cleaner = _cleaner(moto_url)

    # execution
    identity = cleaner.identity()

    # validating
    assert identity.endswith(f"as arn:aws:sts::{ACCOUNT}:assumed-role/envbot/envbot")


def test_cleanup_deletes_only_the_clusters_leftovers(moto_url: str) -> None:
    # setup
    seeded = _seed(moto_url)
    cleaner = _cleaner(moto_url, seeded["zone"])
    bucket_arn = f"arn:aws:s3:::{CLUSTER}-logs"

    # execution
    report = cleaner.cleanup(CLUSTER, "sandbox")

    # validating: the report lists each item
    got = {(i.kind, i.id, i.action) for i in report.items}
    assert got == {
        ("route53:CNAME", "app.dev.example.com", "deleted"),
        ("route53:TXT", "_externaldns-cname-app.dev.example.com", "deleted"),
        ("route53:CNAME", f"grafana.{CLUSTER}.example.com", "deleted"),
        ("route53:TXT", f"_externaldns-grafana.{CLUSTER}.example.com", "deleted"),
        ("route53:CNAME", f"{CLUSTER}-old.example.com", "reported"),
        ("route53:TXT", f"_externaldns-cname-{CLUSTER}-old.example.com", "reported"),
        ("elasticloadbalancing:loadbalancer", seeded["alb"], "deleted"),
        ("ec2:volume", f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{seeded['volume']}", "deleted"),
        (
            "ec2:security-group",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{seeded['group']}",
            "deleted",
        ),
        (
            "ec2:security-group",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{seeded['shared']}",
            "reported",
        ),
        ("s3:bucket", bucket_arn, "reported"),
    }
    assert not report.retry
    summary = report.summary()
    assert summary.startswith("Cloud cleanup: 7 deleted, 4 reported.")
    assert f"`{bucket_arn}`: s3:bucket is not in cleanup.delete" in summary

    # validating: what is left in the account
    assert _names(moto_url, seeded["zone"]) == {
        (f"{CLUSTER}-old.example.com", "CNAME"),
        (f"_externaldns-cname-{CLUSTER}-old.example.com", "TXT"),
        (f"grafana.{OTHER}.example.com", "CNAME"),
        (f"_externaldns-cname-grafana.{OTHER}.example.com", "TXT"),
        (f"api.{CLUSTER}.example.com", "CNAME"),
        (f"_externaldns-cname-api.{CLUSTER}.example.com", "TXT"),
        (f"docs.{CLUSTER}.example.com", "CNAME"),
    }
    assert _client(moto_url, "elbv2").describe_load_balancers()["LoadBalancers"] == []
    ec2 = _client(moto_url, "ec2")
    assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [seeded["other_volume"]]
    groups = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert seeded["group"] not in groups
    assert seeded["shared"] in groups
    _client(moto_url, "s3").head_bucket(Bucket=f"{CLUSTER}-logs")


def test_second_cleanup_finds_nothing_left_to_delete(moto_url: str) -> None:
    # setup
    seeded = _seed(moto_url)
    cleaner = _cleaner(moto_url, seeded["zone"])
    cleaner.cleanup(CLUSTER, "sandbox")

    # execution
    again = cleaner.cleanup(CLUSTER, "sandbox")

    # validating: only what is never deleted is reported again
    assert again.by_action("deleted") == ()
    assert again.by_action("failed") == ()
    assert {i.kind for i in again.items} == {
        "route53:CNAME",
        "route53:TXT",
        "ec2:security-group",
        "s3:bucket",
    }
    assert {i.action for i in again.items} == {"reported"}


def test_cleanup_of_an_unknown_cluster_reports_nothing(moto_url: str) -> None:
    # setup
    seeded = _seed(moto_url)

    # execution
    report = _cleaner(moto_url, seeded["zone"]).cleanup("nobody-1234", "sandbox")

    # validating
    assert report == CleanupReport()
    assert report.summary() == "Cloud cleanup: nothing was left behind."


# -- error mapping and credentials, with botocore's Stubber ----------------------------------


def _fabricated(code: str, status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "nope"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "AnyOperation")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("Throttling", 400, TemporaryError),
        ("RequestLimitExceeded", 503, TemporaryError),
        ("PriorRequestNotComplete", 400, TemporaryError),
        ("InternalError", 500, TemporaryError),
        ("", 502, TemporaryError),
        ("ExpiredToken", 400, TemporaryError),
        ("AccessDenied", 403, PermanentError),
        ("UnauthorizedOperation", 403, PermanentError),
        ("ValidationError", 400, PermanentError),
        ("InvalidParameterValue", 400, PermanentError),
    ],
)
def test_client_errors_map_to_temporary_or_permanent(
    code: str, status: int, expected: type[Exception]
) -> None:
    # execution
    err = map_client_error(_fabricated(code, status), "ec2:DeleteVolume")

    # validating
    assert type(err) is expected
    assert "ec2:DeleteVolume" in str(err)


class _StubSession:
    """Stands in for boto3.Session: hands out pre-built (stubbed) clients by service name."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def client(self, service_name: str, **_: object) -> Any:
        return self.clients[service_name]


def _stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(  # type: ignore[call-overload]
        service, region_name=REGION, aws_access_key_id="k", aws_secret_access_key="s"
    )
    return client, Stubber(client)


def _stub_cleaner(clients: dict[str, Any], now: Callable[[], datetime]) -> AwsCleaner:
    session = _StubSession(clients)
    return AwsCleaner(
        None,
        Cleanup(delete=DELETE),
        Aws(role_arn=ROLE, region=REGION),
        session_factory=lambda **_: cast(boto3.Session, session),
        now=now,
    )


NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CALLER = {"UserId": "AIDA", "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/envbot"}
ASSUMED = {**CALLER, "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/envbot/envbot"}


def _assumed(expires: datetime) -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLEEXAMPLE",
            "SecretAccessKey": "secret",
            "SessionToken": "token",
            "Expiration": expires,
        }
    }


def test_assumed_credentials_are_cached_until_shortly_before_expiry() -> None:
    # setup
    sts, stub = _stubbed("sts")
    clock = [NOW]
    role = {"RoleArn": ROLE, "RoleSessionName": "envbot"}
    stub.add_response("get_caller_identity", CALLER)
    stub.add_response("assume_role", _assumed(NOW + timedelta(hours=1)), role)
    stub.add_response("get_caller_identity", ASSUMED)
    stub.add_response("get_caller_identity", CALLER)  # second call: no assume_role
    stub.add_response("get_caller_identity", ASSUMED)
    stub.add_response("get_caller_identity", CALLER)  # near expiry: assumed again
    stub.add_response("assume_role", _assumed(NOW + timedelta(hours=2)), role)
    stub.add_response("get_caller_identity", ASSUMED)
    cleaner = _stub_cleaner({"sts": sts}, lambda: clock[0])

    # execution
    with stub:
        first = cleaner.identity()
        clock[0] = NOW + timedelta(minutes=50)
        cleaner.identity()
        clock[0] = NOW + timedelta(minutes=56)
        cleaner.identity()

    # validating
    stub.assert_no_pending_responses()
    assert first == f"{CALLER['Arn']} as {ASSUMED['Arn']}"


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [("Throttling", 400, TemporaryError), ("AccessDenied", 403, PermanentError)],
)
def test_identity_errors_are_mapped_and_chained(
    code: str, status: int, expected: type[Exception]
) -> None:
    # setup
    sts, stub = _stubbed("sts")
    stub.add_response("get_caller_identity", CALLER)
    stub.add_client_error("assume_role", service_error_code=code, http_status_code=status)
    cleaner = _stub_cleaner({"sts": sts}, lambda: NOW)

    # execution
    with stub, pytest.raises(expected) as caught:
        cleaner.identity()

    # validating
    assert isinstance(caught.value.__cause__, ClientError)


def test_unreachable_endpoint_is_temporary() -> None:
    # setup
    class Unreachable:
        def get_caller_identity(self) -> dict[str, str]:
            raise EndpointConnectionError(endpoint_url="https://sts.us-west-2.amazonaws.com")

    cleaner = _stub_cleaner({"sts": Unreachable()}, lambda: NOW)

    # execution
    with pytest.raises(TemporaryError) as caught:
        cleaner.identity()

    # validating
    assert isinstance(caught.value.__cause__, EndpointConnectionError)


def test_security_group_in_use_fails_for_now_and_is_retried() -> None:
    # setup
    sts, sts_stub = _stubbed("sts")
    tagging, tag_stub = _stubbed("resourcegroupstaggingapi")
    ec2, ec2_stub = _stubbed("ec2")
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0123"
    sts_stub.add_response("assume_role", _assumed(NOW + timedelta(hours=1)))
    tag_stub.add_response(
        "get_resources",
        {
            "ResourceTagMappingList": [
                {
                    "ResourceARN": arn,
                    "Tags": [{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}],
                }
            ]
        },
    )
    tag_stub.add_response("get_resources", {"ResourceTagMappingList": []})
    ec2_stub.add_client_error("delete_security_group", service_error_code="DependencyViolation")
    clients = {"sts": sts, "resourcegroupstaggingapi": tagging, "ec2": ec2}
    cleaner = _stub_cleaner(clients, lambda: NOW)

    # execution
    with sts_stub, tag_stub, ec2_stub:
        report = cleaner.cleanup(CLUSTER, "sandbox")

    # validating
    [item] = report.items
    assert (item.kind, item.id, item.action) == ("ec2:security-group", arn, "failed")
    assert report.retry
    assert "retried by the next cleanup" in report.summary()


def test_kind_of_spells_kinds_like_the_policy() -> None:
    assert kind_of("arn:aws:ec2:us-west-2:1:volume/vol-1") == "ec2:volume"
    assert kind_of("arn:aws:elasticloadbalancing:r:1:loadbalancer/app/a/1") == (
        "elasticloadbalancing:loadbalancer"
    )
    assert kind_of("arn:aws:s3:::bucket-1") == "s3:bucket"
    assert kind_of("arn:aws:iam::1:role/x") == "iam:role"


def test_no_cloud_and_fake_cloud() -> None:
    # setup
    fake = FakeCloud()
    cloud = PerWorkspaceCloud({"sandbox": fake})

    # execution
    first = cloud.cleanup(CLUSTER, "sandbox")
    second = cloud.cleanup(CLUSTER, "sandbox")
    elsewhere = cloud.cleanup(CLUSTER, "platform")

    # validating
    assert len(first.by_action("deleted")) == 2
    assert len(first.by_action("reported")) == 1
    assert second == elsewhere == CleanupReport()
    assert NoCloud().cleanup(CLUSTER, "x") == CleanupReport()
    assert fake.calls == [(CLUSTER, "sandbox"), (CLUSTER, "sandbox")]


# -- workspaces without `aws`: envbot's own identity in cleanup.region ------------------------


def _policy_without_aws(region: str | None) -> Any:
    cleanup: dict[str, Any] = {"delete": list(DELETE)}
    if region is not None:
        cleanup["region"] = region
    return validate_policy(
        {
            "management": {"host": "management.example.com"},
            "workspaces": {
                "sandbox": {
                    "namespace": "sandbox",
                    "owners": ["@sandbox-owners"],
                    "approvals_channel": "#sandbox-approvals",
                }
            },
            "templates": {
                "small": {
                    "workspace": "sandbox",
                    "kind": "cluster",
                    "ttl": {"default": "1d", "max": "3d", "extend_step": "1d"},
                    "cluster": {"topology": {"class": "aws-quick-start", "version": "v1.30.5"}},
                }
            },
            "cleanup": cleanup,
        }
    )


def test_workspace_without_aws_is_cleaned_as_the_bot_in_cleanup_region(moto_url: str) -> None:
    # setup: only the default credential chain (the environment's keys); no role to assume
    seeded = _seed(moto_url)
    cleaner = build_cloud_cleaner(_policy_without_aws(REGION), endpoint_url=moto_url)

    # execution
    identity = cleaner.identity()
    report = cleaner.cleanup(CLUSTER, "sandbox")

    # validating: the bot's own ARN, and the cluster's tagged leftovers went
    assert identity == (
        f"sandbox: arn:aws:sts::{ACCOUNT}:user/moto (envbot's own identity, no role assumed)"
    )
    deleted = {(i.kind, i.action) for i in report.by_action("deleted")}
    assert ("ec2:volume", "deleted") in deleted
    assert ("elasticloadbalancing:loadbalancer", "deleted") in deleted
    ec2 = _client(moto_url, "ec2")
    assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [seeded["other_volume"]]


def test_cluster_template_without_aws_or_cleanup_region_is_a_policy_error() -> None:
    # execution
    with pytest.raises(PolicyError) as refused:
        _policy_without_aws(None)

    # validating
    assert refused.value.errors == [
        "policy.yaml: workspaces.sandbox.aws: required for cluster templates (small) unless "
        "cleanup.region is set: cloud cleanup after a cluster is deleted runs as this role, or "
        "as envbot's own AWS identity in cleanup.region"
    ]
