"""A name taken by something envbot does not own (the real CAPI and
namespace backends on a fake API server): the environment fails with a clear reason in its thread
and by DM, and neither Retry, Delete now nor expiry ever writes to the foreign objects."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_store import Message
from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.domain.clock import ManualClock
from bot.wiring import Runtime
from tests.scenario.conftest import SlackClient, buttons, message_text
from tests.scenario.test_environments_capi import (  # noqa: F401 - fixtures
    CAPI,
    KOM,
    _env,
    _jobs,
    clients,
    env_backends,
    kube,
)

NAMESPACES = ("", "v1", "namespaces")
TAKEN = "the name `{}` is taken by something envbot does not own; pick another name"


def _snapshot(server: FakeKubeApiServer) -> dict[str, tuple[str, str, dict[str, str]]]:
    """uid, resourceVersion and labels of every Cluster, KommanderCluster and namespace."""
    found = {}
    for gvp, ns in ((CAPI, "sandbox"), (KOM, "sandbox"), (NAMESPACES, None)):
        for obj in server.objects(*gvp, ns):
            m = obj["metadata"]
            key = f"{gvp[2]}/{m.get('namespace', '')}/{m['name']}"
            found[key] = (m["uid"], m["resourceVersion"], dict(m.get("labels") or {}))
    return found


def _card(slack: FakeSlack, name: str) -> Message:
    channel = slack.channel_id("platform")
    (card,) = [m for m in slack.history(channel) if m.text.startswith(f"{name}:")]
    return card


def _thread(slack: FakeSlack, name: str) -> list[str]:
    card = _card(slack, name)
    return [m.text for m in slack.replies(card.channel, card.ts)]


def _dms(slack: FakeSlack, user: str) -> list[str]:
    uid = slack.user_id(user)
    return [message_text(m.text, m.blocks) for m in slack.visible_messages(uid) if m.dm_user == uid]


def _put_foreign_cluster(server: FakeKubeApiServer, name: str) -> None:
    meta: dict[str, Any] = {"name": name, "namespace": "sandbox", "labels": {"team": "data"}}
    server.put_object(*CAPI, {"kind": "Cluster", "metadata": meta, "spec": {}})
    server.put_object(*KOM, {"kind": "KommanderCluster", "metadata": meta, "spec": {}})


def test_a_foreign_cluster_name_fails_the_env_and_survives_retry_and_delete_now(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,  # noqa: F811 - the fixture imported above
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    # setup: the data team's Cluster and KommanderCluster prod-db, not made by envbot
    _put_foreign_cluster(kube, "prod-db")
    was = _snapshot(kube)

    # execution: create, then Retry on the failed card
    answer = slack_http.ask("alice", "/env", "create sandbox prod-db")
    _jobs(runtime, clock)
    failed = _env(sessions, "prod-db")
    retry = slack_http.press("alice", _card(fake_slack, "prod-db"), "retry")
    _jobs(runtime, clock)
    failed_again = _env(sessions, "prod-db")

    # validating: FAILED with the reason, in the thread and by DM, both times
    reason = TAKEN.format("prod-db")
    assert "Creating `prod-db`" in answer
    assert (failed.state, failed.failure) == ("FAILED", reason)
    assert "Retrying" in retry
    assert (failed_again.state, failed_again.failure) == ("FAILED", reason)
    assert sum(reason in t for t in _thread(fake_slack, "prod-db")) == 2
    assert sum(reason in t for t in _dms(fake_slack, "alice")) == 2
    assert _snapshot(kube) == was

    # execution: Delete now
    card = _card(fake_slack, "prod-db")
    assert [b["action_id"] for b in buttons(card.blocks)] == ["retry", "delete_now"]
    slack_http.press("alice", card, "delete_now")
    _jobs(runtime, clock, 180)

    # validating: the environment is gone, the data team's objects are exactly as they were
    assert _env(sessions, "prod-db").state == "DELETED"
    assert _snapshot(kube) == was
    assert {"clusters/sandbox/prod-db", "kommanderclusters/sandbox/prod-db"} <= set(was)


def test_a_foreign_namespace_survives_the_failed_envs_expiry(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,  # noqa: F811 - the fixture imported above
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    # setup: the payments team's namespace on the shared cluster
    kube.put_object(*NAMESPACES, {"kind": "Namespace", "metadata": {"name": "payments"}})
    was = _snapshot(kube)

    # execution: create fails; nobody presses anything; the environment expires (dev: 8h)
    slack_http.ask("alice", "/env", "create dev payments")
    _jobs(runtime, clock)
    failed = _env(sessions, "payments")
    clock.set(clock.now() + timedelta(hours=9))
    _jobs(runtime, clock, 180)

    # validating
    assert (failed.state, failed.failure) == ("FAILED", TAKEN.format("payments"))
    assert _env(sessions, "payments").state == "DELETED"
    assert _snapshot(kube) == was
    assert "namespaces//payments" in was
    assert any(TAKEN.format("payments") in t for t in _dms(fake_slack, "alice"))
