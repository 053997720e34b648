"""boto3 against moto's server over loopback: identity, the identity rule for tagged resources,
AccessDenied on one service, error mapping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from bot.errors import PermanentError, TemporaryError
from bot.policy import PolicyError, validate_policy
from bot.policy.housekeeping import Cleanup, Dns
from bot.policy.models import Aws
from provisioning.aws import AwsCleaner, build_cloud_cleaner, kind_of, map_client_error
from provisioning.cloud import CleanupReport, CloudTarget, NoCloud, PerWorkspaceCloud
from provisioning.fake_cloud import FakeCloud
from tests.fakes.moto_server import ACCOUNT, REGION, ROLE, client, enforce_iam, stop_enforcing

CLUSTER = "sandbox-alice-7k2q"
OTHER = "sandbox-bob-9x1z"
ENV = "ealice"
DELETE = ("elasticloadbalancing:loadbalancer", "ec2:volume", "ec2:security-group")
# moto stamps creation times with the real clock: a life that began long before covers them
LIVED = datetime(2020, 1, 1, tzinfo=UTC)


BASE = CloudTarget(env_id=ENV, cluster=CLUSTER, workspace="sandbox", created_at=LIVED)


def _target(**changes: Any) -> CloudTarget:
    return replace(BASE, **changes)


def _tags(cluster: str, value: str = "owned") -> list[dict[str, str]]:
    return [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": value}]


def _env_tag(env_id: str) -> dict[str, str]:
    return {"Key": "envbot.io/env-id", "Value": env_id}


def _seed(url: str) -> dict[str, str]:
    """Resources of this environment, of another cluster, and of a re-used name."""
    ec2, elbv2, elb = client(url, "ec2"), client(url, "elbv2"), client(url, "elb")
    default_vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    vpc = ec2.create_vpc(
        CidrBlock="10.7.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [_env_tag(ENV)]}],
    )["Vpc"]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    service = {"Key": "kubernetes.io/service-name", "Value": "kommander/traefik"}

    def alb(name: str, tags: list[dict[str, str]]) -> str:
        lbs = elbv2.create_load_balancer(Name=name, Subnets=subnets, Tags=tags)
        return str(lbs["LoadBalancers"][0]["LoadBalancerArn"])

    def volume(tags: list[dict[str, str]]) -> str:
        spec = [{"ResourceType": "volume", "Tags": tags}]
        made = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, TagSpecifications=spec)
        return str(made["VolumeId"])

    def group(name: str, in_vpc: str, tags: list[dict[str, str]]) -> str:
        spec = [{"ResourceType": "security-group", "Tags": tags}]
        made = ec2.create_security_group(
            GroupName=name, Description=name, VpcId=in_vpc, TagSpecifications=spec
        )
        return str(made["GroupId"])

    elb.create_load_balancer(
        LoadBalancerName="a0classic",
        Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
        AvailabilityZones=[f"{REGION}a"],
        Tags=[*_tags(CLUSTER), service],
    )
    return {
        "alb": alb("k8s-alice-ingress", [*_tags(CLUSTER), service]),
        "reused_alb": alb("k8s-new-alice", [*_tags(CLUSTER), service, _env_tag("enew")]),
        "other_alb": alb("k8s-bob", _tags(OTHER)),
        "classic": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/a0classic",
        "volume": volume(_tags(CLUSTER)),
        "env_volume": volume([_env_tag(ENV)]),
        "other_volume": volume(_tags(OTHER)),
        "group": group(f"{CLUSTER}-lb", vpc, _tags(CLUSTER)),
        "stray_group": group(f"{CLUSTER}-stray", default_vpc, _tags(CLUSTER)),
        "shared": group("shared-nodes", vpc, _tags(CLUSTER, "shared")),
        "vpc": vpc,
    }


def _cleaner(url: str, zone: str | None = None) -> AwsCleaner:
    return AwsCleaner(
        Dns(zones=(zone,)) if zone else None,
        Cleanup(delete=DELETE),
        Aws(role_arn=ROLE, region=REGION),
        endpoint_url=url,
    )


def _arn(kind: str, rid: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{rid}"


def _left(url: str) -> dict[str, set[str]]:
    ec2 = client(url, "ec2")
    lbs = client(url, "elbv2").describe_load_balancers()["LoadBalancers"]
    classic = client(url, "elb").describe_load_balancers()["LoadBalancerDescriptions"]
    return {
        "lbs": {lb["LoadBalancerArn"] for lb in lbs} | {lb["LoadBalancerName"] for lb in classic},
        "volumes": {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]},
        "groups": {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]},
    }


def _count(left: dict[str, set[str]]) -> int:
    return sum(len(v) for v in left.values())


def test_identity_assumes_the_workspace_role(moto_url: str) -> None:
    # setup
    cleaner = _cleaner(moto_url)

    # execution
    identity = cleaner.identity()

    # validating
    assert identity.endswith(f"as arn:aws:sts::{ACCOUNT}:assumed-role/envbot/envbot")


def test_cleanup_deletes_what_is_provably_this_environments(
    moto_url: str, figure: Callable[[str], None]
) -> None:
    # setup
    seeded = _seed(moto_url)
    before = _left(moto_url)

    # execution
    report = _cleaner(moto_url).cleanup(_target(ended_at=datetime.now(UTC) + timedelta(days=1)))

    # validating: by env-id tag, by lifetime (LBs, volumes), by the env's VPC (groups)
    got = {(i.id, i.action) for i in report.items}
    assert {
        (seeded["alb"], "deleted"),
        (seeded["classic"], "deleted"),
        (_arn("volume", seeded["volume"]), "deleted"),
        (_arn("volume", seeded["env_volume"]), "deleted"),
        (_arn("security-group", seeded["group"]), "deleted"),
        (seeded["reused_alb"], "reported"),
        (_arn("security-group", seeded["stray_group"]), "reported"),
        (_arn("security-group", seeded["shared"]), "reported"),
        (_arn("vpc", seeded["vpc"]), "reported"),
    } == got
    why = {i.id: i.detail for i in report.items}
    assert why[seeded["reused_alb"]] == "tagged for another environment (envbot.io/env-id=enew)"
    assert "created during this environment's life" in why[seeded["alb"]]
    assert why[_arn("volume", seeded["env_volume"])].startswith(f"tagged envbot.io/env-id={ENV}")
    left = _left(moto_url)
    assert {seeded["other_alb"], seeded["reused_alb"]} <= left["lbs"]
    assert not {seeded["alb"], "a0classic"} & left["lbs"]
    assert left["volumes"] >= {seeded["other_volume"]}
    assert not left["volumes"] & {seeded["volume"], seeded["env_volume"]}
    assert {seeded["stray_group"], seeded["shared"]} <= left["groups"]
    assert seeded["group"] not in left["groups"]
    counts = {a: len(report.by_action(a)) for a in ("deleted", "reported", "failed")}
    figure(f"objects before={_count(before)} after={_count(left)}; report {counts}")


def test_a_reused_name_keeps_its_resources(moto_url: str, figure: Callable[[str], None]) -> None:
    # setup: the old environment lived in 2020; the name is in use again today
    seeded = _seed(moto_url)
    before = _left(moto_url)
    old = _target(env_id="eold", created_at=LIVED, ended_at=LIVED + timedelta(days=1))

    # execution: its cleanup, and a cleanup while another live environment holds the name
    late = _cleaner(moto_url).cleanup(old)
    taken = _cleaner(moto_url).cleanup(_target(name_taken=True))

    # validating: only what carries this environment's own id goes
    assert late.by_action("deleted") == ()
    assert any("outside this environment's life" in i.detail for i in late.items)
    assert {i.id for i in taken.by_action("deleted")} == {_arn("volume", seeded["env_volume"])}
    assert any("a live environment holds now" in i.detail for i in taken.items)
    after = _left(moto_url)
    assert _count(after) == _count(before) - 1
    figure(f"objects before={_count(before)} after={_count(after)}")


def test_second_cleanup_finds_nothing_left_to_delete(moto_url: str) -> None:
    # setup
    _seed(moto_url)
    cleaner = _cleaner(moto_url)
    cleaner.cleanup(_target())

    # execution
    again = cleaner.cleanup(_target())

    # validating: only what is never deleted is reported again
    assert again.by_action("deleted") == ()
    assert again.by_action("failed") == ()
    assert {i.action for i in again.items} == {"reported"}


def test_cleanup_of_an_unknown_cluster_reports_nothing(moto_url: str) -> None:
    # setup
    _seed(moto_url)

    # execution
    report = _cleaner(moto_url).cleanup(_target(env_id="enobody", cluster="nobody-1234"))

    # validating
    assert report == CleanupReport()
    assert report.summary() == "Cloud cleanup: nothing was left behind."


def test_access_denied_on_route53_does_not_stop_ec2_and_elb(
    moto_url: str, monkeypatch: pytest.MonkeyPatch, figure: Callable[[str], None]
) -> None:
    # setup: the zone is out of the role's reach (as in another account); moto enforces IAM
    seeded = _seed(moto_url)
    zone = client(moto_url, "route53").create_hosted_zone(Name="example.com", CallerReference="x")
    zone_id = zone["HostedZone"]["Id"].removeprefix("/hostedzone/")
    before = _left(moto_url)
    enforce_iam(moto_url, monkeypatch, deny=["route53:*"])

    # execution
    report = _cleaner(moto_url, zone_id).cleanup(_target())
    stop_enforcing(moto_url)

    # validating: the zone is reported with AWS's answer; the rest still went
    [dns] = [i for i in report.items if i.kind == "route53:hostedzone"]
    assert (dns.id, dns.action) == (zone_id, "reported")
    assert "AccessDenied" in dns.detail
    deleted = {i.id for i in report.by_action("deleted")}
    assert {seeded["alb"], seeded["classic"], _arn("volume", seeded["volume"])} <= deleted
    after = _left(moto_url)
    assert seeded["alb"] not in after["lbs"]
    figure(f"objects before={_count(before)} after={_count(after)}; zone reported (AccessDenied)")


def test_load_balancers_before_the_cluster_are_the_cloud_controllers_only(moto_url: str) -> None:
    # setup
    seeded = _seed(moto_url)
    cleaner = _cleaner(moto_url)

    # execution
    lbs = cleaner.load_balancers(_target())
    report = cleaner.delete_load_balancers(_target(), lbs)

    # validating: tagged owned + service-name, within the life, not another env's
    assert {lb.arn for lb in lbs} == {seeded["alb"], seeded["classic"]}
    assert all(lb.dns_name.endswith(".elb.amazonaws.com") for lb in lbs)
    assert {lb.service for lb in lbs} == {"kommander/traefik"}
    assert {(i.id, i.action) for i in report.items} == {
        (seeded["alb"], "deleted"),
        (seeded["classic"], "deleted"),
    }
    assert cleaner.load_balancers(_target()) == ()
    assert seeded["reused_alb"] in _left(moto_url)["lbs"]


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
                    "Tags": [
                        {"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"},
                        _env_tag(ENV),
                    ],
                }
            ]
        },
    )
    tag_stub.add_response("get_resources", {"ResourceTagMappingList": []})
    tag_stub.add_response("get_resources", {"ResourceTagMappingList": []})
    group = {"GroupId": "sg-0123", "VpcId": "vpc-1", "GroupName": "g", "Description": "g"}
    ec2_stub.add_response("describe_security_groups", {"SecurityGroups": [group]})
    ec2_stub.add_client_error("delete_security_group", service_error_code="DependencyViolation")
    clients = {"sts": sts, "resourcegroupstaggingapi": tagging, "ec2": ec2}
    cleaner = _stub_cleaner(clients, lambda: NOW)

    # execution
    with sts_stub, tag_stub, ec2_stub:
        report = cleaner.cleanup(_target())

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
    first = cloud.cleanup(_target())
    second = cloud.cleanup(_target())
    elsewhere = cloud.cleanup(_target(workspace="platform"))

    # validating
    assert len(first.by_action("deleted")) == 2
    assert len(first.by_action("reported")) == 1
    assert second == elsewhere == CleanupReport()
    assert NoCloud().cleanup(_target()) == CleanupReport()
    assert cloud.load_balancers(_target()) == ()
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
    report = cleaner.cleanup(_target())

    # validating: the bot's own ARN, and the cluster's tagged leftovers went
    assert identity == (
        f"sandbox: arn:aws:sts::{ACCOUNT}:user/moto (envbot's own identity, no role assumed)"
    )
    deleted = {(i.kind, i.action) for i in report.by_action("deleted")}
    assert ("ec2:volume", "deleted") in deleted
    assert ("elasticloadbalancing:loadbalancer", "deleted") in deleted
    assert _left(moto_url)["volumes"] == {seeded["other_volume"]}


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


def test_a_name_held_in_the_account_by_someone_else_is_found(moto_url: str) -> None:
    # setup: prod-db's volume is someone else's; fresh-1's only resource carries its own env id
    ec2 = client(moto_url, "ec2")
    other_install = {"Key": "envbot.io/install-id", "Value": "inst-b"}
    for tags in (
        _tags("prod-db"),
        [*_tags("fresh-1"), _env_tag("e-fresh")],
        [*_tags("twin"), _env_tag("e-fresh"), other_install],
    ):
        spec = [{"ResourceType": "volume", "Tags": tags}]
        ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, TagSpecifications=spec)
    cleaner = PerWorkspaceCloud({"sandbox": _cleaner(moto_url)})

    # execution
    taken = cleaner.foreign_holder("prod-db", "sandbox", "e-new", "inst-a")
    ours = cleaner.foreign_holder("fresh-1", "sandbox", "e-fresh", "inst-a")
    free = cleaner.foreign_holder("unused", "sandbox", "e-new", "inst-a")
    elsewhere = cleaner.foreign_holder("prod-db", "no-aws-workspace", "e-new", "inst-a")
    twin = cleaner.foreign_holder("twin", "sandbox", "e-fresh", "inst-a")

    # validating: only the foreign holder is named; nothing was changed
    assert taken.startswith("ec2:volume vol-")
    assert "(not envbot)" in taken
    assert (ours, free, elsewhere) == ("", "", "")
    assert "(envbot environment e-fresh)" in twin  # same env id, another install
    assert len(ec2.describe_volumes()["Volumes"]) == 3
