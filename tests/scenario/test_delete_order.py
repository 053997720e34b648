"""Deleting a cluster environment like `dkp delete cluster`: the cloud controller's load balancers
first (their DNS names recorded), then the Cluster; afterwards only its own records go.

Real CAPI objects on the fake API server, real boto3 against moto, the real runtime over HTTP.
`FakeCapiController` keeps a deleted Cluster in Deleting while moto holds a load balancer tagged
for it, and notes how many there were when the Cluster DELETE arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment, Event
from bot.demo.fake_slack import FakeSlack
from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.domain.clock import ManualClock
from bot.policy import Policy
from bot.policy.housekeeping import Dns
from bot.wiring import Runtime
from provisioning.aws import AwsCleaner
from provisioning.base import EnvironmentBackend
from provisioning.cloud import CloudCleaner, PerWorkspaceCloud
from provisioning.kube.client import NAMESPACE, KubeClients
from provisioning.registry import build_environment_backends
from tests.fakes.capi_controller import CAPI, FakeCapiController
from tests.fakes.moto_server import client, enforce_iam
from tests.scenario.conftest import SlackClient

NAME = "capi-del"
ZONE = "demo.example.com"


@pytest.fixture
def kube() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def clients(kube: FakeKubeApiServer, tmp_path: Path) -> Iterator[KubeClients]:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kube.kubeconfig("mgmt")), encoding="utf-8")
    kc = KubeClients(str(path), "mgmt", {})
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sandbox"}}
    kc.management().create(NAMESPACE, ns)
    yield kc
    kc.close()


@pytest.fixture
def env_backends(clients: KubeClients, clock: ManualClock) -> dict[str, EnvironmentBackend]:
    return build_environment_backends(clock, clients)


@pytest.fixture
def zone_id(moto_url: str) -> str:
    made = client(moto_url, "route53").create_hosted_zone(Name=ZONE, CallerReference="order")
    return str(made["HostedZone"]["Id"]).removeprefix("/hostedzone/")


@pytest.fixture
def cloud(moto_url: str, zone_id: str, policy: Policy) -> CloudCleaner:
    aws = policy.workspaces["sandbox"].aws
    assert aws is not None
    cleaner = AwsCleaner(Dns(zones=(zone_id,)), policy.cleanup, aws, endpoint_url=moto_url)
    return PerWorkspaceCloud({"sandbox": cleaner})


def _env(sessions: sessionmaker[Session]) -> Environment:
    with sessions() as s:
        env = s.scalars(select(Environment).where(Environment.name == NAME)).first()
    assert env is not None
    return env


def _passes(runtime: Runtime, clock: ManualClock, capi: FakeCapiController, n: int = 4) -> None:
    for _ in range(n):
        runtime.jobs.advance(clock, timedelta(seconds=60))
        capi.reconcile()


def _created(
    http: SlackClient, runtime: Runtime, clock: ManualClock, capi: FakeCapiController
) -> None:
    """The Cluster exists and CAPI holds it with its finalizer (how far it got does not matter:
    a provisioning cluster is deleted the same way)."""
    http.ask("alice", "/env", f"create sandbox {NAME}")
    _passes(runtime, clock, capi)


def _workload_lbs(url: str) -> dict[str, dict[str, Any]]:
    """The traefik Service's load balancer of this cluster, and another cluster's."""
    ec2, elbv2 = client(url, "ec2"), client(url, "elbv2")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]

    def lb(name: str, cluster: str, *extra: dict[str, str]) -> dict[str, Any]:
        tags = [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"}, *extra]
        made = elbv2.create_load_balancer(Name=name, Subnets=subnets, Tags=tags)
        return dict(made["LoadBalancers"][0])

    service = {"Key": "kubernetes.io/service-name", "Value": "kommander/kommander-traefik"}
    return {
        "traefik": lb("a1traefik", NAME, service),
        "other": lb("a2other", "other-cluster", service),
    }


def _records(url: str, zone: str, traefik: str) -> None:
    def txt(name: str) -> dict[str, Any]:
        value = '"heritage=external-dns,external-dns/owner=kommander,external-dns/resource=x/y/z"'
        return {"Name": name, "Type": "TXT", "TTL": 300, "ResourceRecords": [{"Value": value}]}

    def cname(name: str, target: str) -> dict[str, Any]:
        return {"Name": name, "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": target}]}

    records = [
        cname(f"app.{ZONE}", traefik),
        txt(f"_externaldns-cname-app.{ZONE}"),
        cname(f"management.{ZONE}", "mgmt-1.elb.us-west-2.amazonaws.com"),
        txt(f"_externaldns-cname-management.{ZONE}"),
    ]
    changes = [{"Action": "CREATE", "ResourceRecordSet": r} for r in records]
    client(url, "route53").change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": changes}
    )


def _zone(url: str, zone: str) -> set[str]:
    listed = client(url, "route53").list_resource_record_sets(HostedZoneId=zone)
    return {r["Name"].removesuffix(".") for r in listed["ResourceRecordSets"] if r["Type"] != "NS"}


def _delete(http: SlackClient, fake_slack: FakeSlack) -> None:
    uid = fake_slack.user_id("alice")
    http.ask("alice", "/env", f"delete {NAME}")
    (confirm,) = [
        m for m in fake_slack.visible_messages(uid) if m.ephemeral_to == uid and "Delete" in m.text
    ]
    http.press("alice", confirm, "delete_now")


def _thread(fake_slack: FakeSlack, words: str) -> list[str]:
    """The replies in the environment card's thread that contain `words`."""
    channel = fake_slack.channel_id("platform")
    [card] = [m for m in fake_slack.history(channel) if m.text.startswith(f"{NAME}:")]
    return [m.text for m in fake_slack.replies(channel, card.ts) if words in m.text]


def test_load_balancers_go_before_the_cluster_and_only_own_records_after(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
    moto_url: str,
    zone_id: str,
    figure: Callable[[str], None],
) -> None:
    # setup: a cluster whose traefik Service has a load balancer and a DNS record
    # (made after the create: before its first create the job checks that nothing in the
    # account is tagged for the name yet)
    capi = FakeCapiController(kube, moto_url)
    _created(slack_http, runtime, clock, capi)
    lbs = _workload_lbs(moto_url)
    traefik = lbs["traefik"]["DNSName"]
    _records(moto_url, zone_id, traefik)
    assert _env(sessions).state == "PROVISIONING"
    zone_before, lbs_before = _zone(moto_url, zone_id), set(capi.load_balancers(NAME))

    # execution
    _delete(slack_http, fake_slack)
    _passes(runtime, clock, capi, 6)

    # validating: no load balancer was left when the Cluster DELETE arrived; all went through
    env = _env(sessions)
    assert capi.lbs_at_delete == {NAME: 0}
    assert env.state == "DELETED", (env.state, env.failure)
    assert traefik.lower() in env.cloud_hosts
    assert kube.get_object(*CAPI, "sandbox", NAME) is None
    assert capi.load_balancers(NAME) == []
    assert capi.load_balancers("other-cluster") == [lbs["other"]["LoadBalancerArn"]]
    zone_after = _zone(moto_url, zone_id)
    assert zone_before - zone_after == {f"app.{ZONE}", f"_externaldns-cname-app.{ZONE}"}
    assert len(_thread(fake_slack, "load balancer(s) of the cluster's Services")) == 1
    with sessions() as s:
        actions = [e.action for e in s.scalars(select(Event).where(Event.object_id == env.id))]
    assert "load_balancers_deleted" in actions
    assert "cloud_cleanup" in actions
    figure(f"load balancers tagged for {NAME} before={len(lbs_before)} after=0, other cluster's "
           f"kept; records before={len(zone_before)} after={len(zone_after)}")  # fmt: skip


def test_a_load_balancer_that_cannot_go_holds_the_cluster_and_is_reported_once(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    policy: Policy,
) -> None:
    # setup: the workspace role may not delete load balancers
    capi = FakeCapiController(kube, moto_url)
    _created(slack_http, runtime, clock, capi)
    lbs = _workload_lbs(moto_url)
    enforce_iam(moto_url, monkeypatch, deny=["elasticloadbalancing:DeleteLoadBalancer"])

    # execution: delete, then let the deletion outlast cleanup.deleting_timeout twice over
    _delete(slack_http, fake_slack)
    _passes(runtime, clock, capi, 2)
    timeout = policy.cleanup.deleting_timeout
    for _ in range(2):
        clock.set(clock.now() + timeout)
        _passes(runtime, clock, capi, 2)

    # validating: the Cluster was never deleted; one report names the load balancer and why
    env = _env(sessions)
    assert env.state == "DELETING"
    assert not env.delete_requested
    assert capi.lbs_at_delete == {}
    cluster = kube.get_object(*CAPI, "sandbox", NAME)
    assert cluster is not None
    assert not cluster["metadata"].get("deletionTimestamp")
    [stuck] = _thread(fake_slack, "has been deleting for")
    assert lbs["traefik"]["LoadBalancerArn"] in stuck
    assert "AccessDenied" in stuck
