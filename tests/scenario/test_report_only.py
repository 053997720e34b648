"""Report-only mode (`report_only: true`) over signed HTTP with the real namespace, CAPI and rbac
backends on the fake API server and the real AWS cleaner on moto: expiry and cloud cleanup say
once in the thread what they would delete and delete nothing; with the flag off they proceed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from waitress.channel import HTTPChannel

from bot.db.models import AccessRequest, Environment, Event
from bot.demo.fake_slack import FakeSlack
from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.domain.clock import ManualClock
from bot.policy import Policy
from bot.policy.housekeeping import Dns
from bot.server import HttpServer, make_wsgi_app
from bot.wiring import Runtime
from provisioning.aws import build_cloud_cleaner
from provisioning.base import AccessBackend
from provisioning.cloud import CloudCleaner
from provisioning.kube import labels as lbl
from provisioning.kube.client import NAMESPACE, KubeClients
from provisioning.registry import build_access_backends
from tests import capi_stages as st
from tests.scenario import test_environments_capi as capi_scenario
from tests.scenario.conftest import REQUEST_ID, RuntimeFactory, SlackClient, wait_for


def _when(at: datetime) -> str:
    """A time as Slack shows it to each reader, with the UTC fallback."""
    return (
        f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{at:%Y-%m-%d %H:%M} UTC>"
    )


# The fixtures of the CAPI scenario and the AWS tests: one fake API server for the management
# cluster and every policy cluster, real backends on it, and a fresh moto server.
kube = capi_scenario.kube
clients = capi_scenario.clients
env_backends = capi_scenario.env_backends

CAPI, KOM = capi_scenario.CAPI, capi_scenario.KOM
NOTE = "Report-only mode"


@dataclass
class Bot:
    """One running envbot: its runtime, its HTTP server and a signed Slack client for it."""

    runtime: Runtime
    server: HttpServer
    http: SlackClient

    def jobs(self, clock: ManualClock, passes: int = 2) -> None:
        """`passes` minutes, each ending with a run of every job, then five seconds in which
        the outbox drain (one message a second per channel) sends what they queued."""
        for _ in range(passes):
            self.runtime.jobs.advance(clock, timedelta(minutes=1))
        for _ in range(5):
            self.runtime.jobs.advance(clock, timedelta(seconds=1))

    def next_due(self, job: str, clock: ManualClock) -> Any:
        (found,) = [j for j in self.runtime.jobs.jobs if j.name == job]
        assert found.next_due is not None
        return found.next_due(clock.now())

    def stop(self) -> None:
        """Stop serving, then close the runtime (on PostgreSQL it gives up the jobs' lock)."""
        channels = self.server._server._map
        wait_for(
            lambda: not any(isinstance(c, HTTPChannel) for c in list(channels.values())),
            what="client connections to close",
        )
        self.server.stop()
        self.runtime.close()


@pytest.fixture
def access_backends(clients: KubeClients) -> dict[str, AccessBackend]:
    return build_access_backends(clients)


@pytest.fixture
def start(
    make_runtime: RuntimeFactory, clients: KubeClients, fake_slack: FakeSlack, clock: ManualClock
) -> Iterator[Any]:
    """Starts envbot with a given policy (and cloud cleaner); a second start is a restart."""
    clients.management().create(
        NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    )
    bots: list[Bot] = []

    def make(policy: Policy, cloud: CloudCleaner | None = None) -> Bot:
        for running in bots:
            running.stop()
        bots.clear()
        runtime = make_runtime(policy, cloud)
        server = HttpServer(make_wsgi_app(runtime.app), "127.0.0.1", 0).start()
        bot = Bot(runtime, server, SlackClient(url=server.url, slack=fake_slack, clock=clock))
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.stop()  # make_runtime closes the runtimes again, which is harmless


def _report_only(policy: Policy, on: bool = True) -> Policy:
    return policy.model_copy(update={"report_only": on})


def _row(sessions: sessionmaker[Session], model: Any, **where: Any) -> Any:
    with sessions() as s:
        row = s.scalars(select(model).filter_by(**where)).one()
    return row


def _thread(slack: FakeSlack, card_prefix: str) -> list[str]:
    channel = slack.channel_id("platform")
    (card,) = [m for m in slack.history(channel) if m.text.startswith(card_prefix)]
    return [m.text for m in slack.replies(channel, card.ts)]


def _audit(sessions: sessionmaker[Session], object_id: str, action: str) -> list[Event]:
    with sessions() as s:
        return list(s.scalars(select(Event).filter_by(object_id=object_id, action=action)).all())


def _owned(kube: FakeKubeApiServer) -> list[tuple[str, str, str]]:
    """Every envbot-labelled object on the fake: (kind, namespace, name)."""
    found = []
    for group, plural in (
        ("", "namespaces"),
        ("", "resourcequotas"),
        ("", "limitranges"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ):
        for obj in kube.objects(group, "v1", plural):
            meta = obj["metadata"]
            if (meta.get("labels") or {}).get(lbl.MANAGED) == "true":
                found.append((obj["kind"], meta.get("namespace", ""), meta["name"]))
    return sorted(found)


def test_expiry_reports_once_deletes_nothing_and_proceeds_when_turned_off(
    start: Any,
    policy: Policy,
    kube: FakeKubeApiServer,
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    # setup: a namespace environment (8h) and an rbac grant (2h) on shared-dev, report-only on
    bot = start(_report_only(policy))
    bot.http.ask("alice", "/env", "create dev alice-ns")
    answer = bot.http.ask("alice", "/access", 'request team-a edit 2h "fix the payments job"')
    bot.jobs(clock)
    found = REQUEST_ID.search(answer)
    assert found, answer
    req_id = found.group(1)
    bot.http.press("dave", _card(fake_slack, f"Access request {req_id}:"), "approve")
    bot.jobs(clock)
    env = _row(sessions, Environment, name="alice-ns")
    assert env.state == "READY", env.failure
    assert _row(sessions, AccessRequest, id=req_id).state == "ACTIVE"
    before = _owned(kube)
    assert len(before) == 5, before  # namespace, quota, limits, owner binding, grant binding
    kube.clear_requests()

    # execution: well past both expiries, over many passes of every job
    clock.set(env.expires_at + timedelta(minutes=1))
    bot.jobs(clock, passes=3)
    clock.set(clock.now() + timedelta(hours=6))
    bot.jobs(clock, passes=3)

    # validating: nothing deleted or changed on the cluster, both still live, told once each
    assert _owned(kube) == before
    writes = [(r.method, r.path) for r in kube.requests if r.method not in ("GET",)]
    assert writes == []
    assert _row(sessions, Environment, name="alice-ns").state == "READY"
    assert _row(sessions, AccessRequest, id=req_id).state == "ACTIVE"
    env_notes = [t for t in _thread(fake_slack, "alice-ns:") if t.startswith(NOTE)]
    assert env_notes == [
        f"{NOTE}: `alice-ns` expired at {_when(env.expires_at)}; envbot would now "
        "delete the namespace `alice-ns` on cluster `shared-dev` with everything in it. Nothing "
        "was deleted and it stays READY: delete it yourself, extend it, or turn `report_only` "
        "off and the normal expiry deletes it."
    ]
    grant_notes = [
        t for t in _thread(fake_slack, f"Access request {req_id}:") if t.startswith(NOTE)
    ]
    assert len(grant_notes) == 1
    assert "would now revoke edit on team-a for alice@example.com" in grant_notes[0]
    assert len(_audit(sessions, env.id, "report_only")) == 1
    assert len(_audit(sessions, req_id, "report_only")) == 1
    assert bot.next_due("expiry", clock) is None  # no pass is due for an expiry already told
    assert bot.next_due("access-expiry", clock) is None

    # execution: the owner extends it; the new expiry passes too
    bot.http.ask("alice", "/env", "extend alice-ns")
    extended = _row(sessions, Environment, name="alice-ns").expires_at
    assert extended > clock.now()
    clock.set(extended + timedelta(minutes=1))
    bot.jobs(clock, passes=3)

    # validating: the new expiry is told once more, still nothing deleted
    env_notes = [t for t in _thread(fake_slack, "alice-ns:") if t.startswith(NOTE)]
    assert len(env_notes) == 2
    assert f"expired at {_when(extended)}" in env_notes[1]
    assert len(_audit(sessions, env.id, "report_only")) == 2
    assert _owned(kube) == before

    # execution: the operator turns report_only off (a new policy is a restart)
    bot = start(_report_only(policy, on=False))
    bot.jobs(clock, passes=3)

    # validating: the normal expiry ran: everything of both is gone
    assert _row(sessions, Environment, name="alice-ns").state == "DELETED"
    assert _row(sessions, AccessRequest, id=req_id).state == "EXPIRED"
    assert _owned(kube) == []
    assert kube.get_object("", "v1", "namespaces", None, "team-a") is not None


def _card(slack: FakeSlack, prefix: str) -> Any:
    channel = slack.channel_id("platform")
    (card,) = [m for m in slack.history(channel) if m.text.startswith(prefix)]
    return card


def _aws(url: str, service: str) -> Any:
    return boto3.client(service, region_name="us-west-2", endpoint_url=url)  # type: ignore[call-overload]


def test_cloud_cleanup_reports_once_deletes_nothing_and_runs_when_turned_off(
    start: Any,
    policy: Policy,
    kube: FakeKubeApiServer,
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
    moto_url: str,
) -> None:
    # setup: a CAPI cluster environment, READY, and what it left in AWS
    zone = _aws(moto_url, "route53").create_hosted_zone(Name="example.com", CallerReference="r")
    zone_id = zone["HostedZone"]["Id"].removeprefix("/hostedzone/")
    policy = policy.model_copy(update={"dns": Dns(zones=(zone_id,))})
    on = _report_only(policy)
    bot = start(on, build_cloud_cleaner(on, endpoint_url=moto_url))
    bot.http.ask("alice", "/env", "create sandbox capi-one")
    bot.jobs(clock)
    for condition in ("InfrastructureReady", "ControlPlaneReady", "Ready"):
        kube.set_condition(*CAPI, "sandbox", "capi-one", condition, "True", reason="R", message="")
    # the template's MachineDeployment (envbot created it) gets its 2 of 2 workers: READY needs them
    status = st.md_status("v1beta1", "workers_2", cluster="capi-one")
    kube.set_status(
        "cluster.x-k8s.io", "v1beta1", "machinedeployments", "sandbox", "capi-one-md-0", status
    )
    kube.set_status(*KOM, "sandbox", "capi-one", {"phase": "Joined", "ingress": {"address": "x"}})
    bot.jobs(clock)
    env = _row(sessions, Environment, name="capi-one")
    assert env.state == "READY"
    ec2 = _aws(moto_url, "ec2")
    tags = [
        {"Key": "kubernetes.io/cluster/capi-one", "Value": "owned"},
        {"Key": "envbot.io/env-id", "Value": env.id},
    ]
    volume = ec2.create_volume(
        AvailabilityZone="us-west-2a",
        Size=8,
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
    )["VolumeId"]

    # execution: the owner deletes it (a person's Delete now still acts), then many passes
    uid = fake_slack.user_id("alice")
    bot.http.ask("alice", "/env", "delete capi-one")
    (confirm,) = [
        m for m in fake_slack.visible_messages(uid) if m.ephemeral_to == uid and "Delete" in m.text
    ]
    bot.http.press("alice", confirm, "delete_now")
    bot.jobs(clock, passes=3)

    # validating: DELETED in Kubernetes, the cloud cleanup held and told once, the volume kept
    assert _row(sessions, Environment, name="capi-one").state == "DELETED"
    assert _row(sessions, Environment, name="capi-one").cloud_cleanup == "pending"
    assert kube.get_object(*CAPI, "sandbox", "capi-one") is None
    volumes = ec2.describe_volumes(VolumeIds=[volume])["Volumes"]
    assert [v["VolumeId"] for v in volumes] == [volume]
    notes = [t for t in _thread(fake_slack, "capi-one:") if t.startswith(NOTE)]
    # (the cleaner's dry run: each resource it would delete, by id)
    arn = f"arn:aws:ec2:us-west-2:123456789012:volume/{volume}"
    assert notes == [
        f"{NOTE}: the cloud cleanup of `capi-one` is on hold.\n"
        "Cloud cleanup: 1 would be deleted.\n"
        f"• would delete `ec2:volume` `{arn}`: tagged envbot.io/env-id={env.id}\n"
        "Nothing was deleted; it happens when `report_only` is turned off in the policy."
    ]
    assert len(_audit(sessions, env.id, "report_only")) == 1

    # execution: report_only off
    off = _report_only(policy, on=False)
    bot = start(off, build_cloud_cleaner(off, endpoint_url=moto_url))
    bot.jobs(clock, passes=1)
    assert _row(sessions, Environment, name="capi-one").cloud_cleanup == "pending"
    bot.runtime.jobs.advance(clock, timedelta(minutes=10))  # a held cleanup is looked at again
    bot.jobs(clock, passes=1)

    # validating: the cleanup ran and the volume is gone
    assert _row(sessions, Environment, name="capi-one").cloud_cleanup == "done"
    left = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume]}])["Volumes"]
    assert left == []
