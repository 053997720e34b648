"""Environments over signed HTTP with the real CAPI and namespace backends on a fake API server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment
from bot.demo.fake_slack import FakeSlack
from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.capi import TAGS_VARIABLE, clusterclass, quick_start_variables
from bot.domain.clock import ManualClock
from bot.policy import Policy, load_policy
from bot.wiring import Runtime
from provisioning.base import EnvironmentBackend
from provisioning.kube import labels as lbl
from provisioning.kube.client import NAMESPACE, KubeClients
from provisioning.registry import build_environment_backends
from tests import capi_stages as st
from tests.scenario.conftest import POLICY_PATH, SlackClient, message_text

CAPI = ("cluster.x-k8s.io", "v1beta1", "clusters")
MDS = ("cluster.x-k8s.io", "v1beta1", "machinedeployments")
KOM = ("kommander.mesosphere.io", "v1beta1", "kommanderclusters")
AWS = ("infrastructure.cluster.x-k8s.io", "v1beta2", "awsclusters")
RENDERED = {
    CAPI: 1,
    AWS: 1,
    ("controlplane.cluster.x-k8s.io", "v1beta1", "kubeadmcontrolplanes"): 1,
    ("infrastructure.cluster.x-k8s.io", "v1beta2", "awsmachinetemplates"): 2,
    ("cluster.x-k8s.io", "v1beta1", "machinedeployments"): 1,
    ("bootstrap.cluster.x-k8s.io", "v1beta1", "kubeadmconfigtemplates"): 1,
}


CC = ("cluster.x-k8s.io", "v1beta1", "clusterclasses")


@pytest.fixture
def policy() -> Policy:
    """The example policy, with prod-cluster (a topology template) needing no approval."""
    example = load_policy(POLICY_PATH)
    prod = example.templates["prod-cluster"].model_copy(update={"approval": False})
    return example.model_copy(update={"templates": {**example.templates, "prod-cluster": prod}})


@pytest.fixture
def kube() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def clients(kube: FakeKubeApiServer, tmp_path: Path, policy: Policy) -> Iterator[KubeClients]:
    """A kubeconfig with the management context and every policy cluster's context."""
    path = kube.write_kubeconfig(
        tmp_path / "kubeconfig", "mgmt", [c.context for c in policy.clusters.values()]
    )
    contexts = {name: c.context for name, c in policy.clusters.items()}
    kc = KubeClients(str(path), "mgmt", contexts)
    kc.management().create(
        NAMESPACE,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sandbox"}},
    )
    yield kc
    kc.close()


@pytest.fixture
def env_backends(clients: KubeClients, clock: ManualClock) -> dict[str, EnvironmentBackend]:
    return build_environment_backends(clock, clients)


def _env(sessions: sessionmaker[Session], name: str) -> Environment:
    with sessions() as s:
        env = s.scalars(select(Environment).where(Environment.name == name)).first()
    assert env is not None
    return env


def _jobs(runtime: Runtime, clock: ManualClock, seconds: int = 90) -> None:
    for _ in range(seconds // 30):
        runtime.jobs.advance(clock, timedelta(seconds=30))


def test_capi_create_ready_delete(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    # setup
    answer = slack_http.ask("alice", "/env", "create sandbox capi-one")
    _jobs(runtime, clock)
    env = _env(sessions, "capi-one")
    cluster = kube.get_object(*CAPI, "sandbox", "capi-one")

    # validating: the objects carry who and what, and the expiry
    assert "Creating `capi-one`" in answer
    assert env.state == "PROVISIONING"
    assert cluster is not None
    labels = cluster["metadata"]["labels"]
    assert labels[lbl.ENV_ID] == env.id
    assert labels[lbl.TEMPLATE] == "sandbox"
    assert lbl.OWNER in labels
    assert cluster["metadata"]["annotations"][lbl.EXPIRES_AT].startswith(
        env.expires_at.strftime("%Y-%m-%dT%H:%M")
    )
    assert kube.get_object(*KOM, "sandbox", "capi-one") is not None
    # the example template's whole object set, each ours, the AWSCluster with our AWS tags
    for gvp, count in RENDERED.items():
        mine = [
            o
            for o in kube.objects(*gvp, "sandbox")
            if o["metadata"]["labels"].get(lbl.ENV_ID) == env.id
        ]
        assert len(mine) == count, gvp
    aws = kube.get_object(*AWS, "sandbox", "capi-one")
    assert aws is not None
    tags = aws["spec"]["additionalTags"]
    assert (tags["owner"], tags["envbot.io/env-id"]) == ("alice@example.com", env.id)
    assert tags["expiration"] == lbl.iso(env.expires_at)

    # execution: CAPI and Kommander move it along
    for condition in ("InfrastructureReady", "ControlPlaneReady", "Ready"):
        kube.set_condition(
            *CAPI, "sandbox", "capi-one", condition, "True", reason="Ready", message="ok"
        )
        _jobs(runtime, clock)
    # the template's MachineDeployment (envbot created it) gets its 2 of 2 workers
    status = st.md_status("v1beta1", "workers_2", cluster="capi-one")
    kube.set_status(*MDS, "sandbox", "capi-one-md-0", status)
    kube.set_status(
        *KOM, "sandbox", "capi-one", {"phase": "Joined", "ingress": {"address": "lb.example"}}
    )
    _jobs(runtime, clock)

    # validating
    ready = _env(sessions, "capi-one")
    assert ready.state == "READY"
    assert ready.endpoints == {"api_server": "https://lb.example/dkp/api-server"}
    uid = fake_slack.user_id("alice")
    dms = [
        message_text(m.text, m.blocks) for m in fake_slack.visible_messages(uid) if m.dm_user == uid
    ]
    assert any("capi-one" in t and "oidc-login" in t for t in dms), dms

    # execution: extend and hand it to bob; the next pass refreshes the Cluster's metadata
    slack_http.ask("alice", "/env", "extend capi-one")
    slack_http.ask("alice", "/env", f"transfer capi-one <@{fake_slack.user_id('bob')}|bob>")
    _jobs(runtime, clock)

    # validating: the objects say what the database says, and nobody is told of drift
    moved = _env(sessions, "capi-one")
    cluster = kube.get_object(*CAPI, "sandbox", "capi-one")
    assert cluster is not None
    assert cluster["metadata"]["annotations"][lbl.EXPIRES_AT].startswith(
        moved.expires_at.strftime("%Y-%m-%dT%H:%M")
    )
    assert cluster["metadata"]["annotations"][lbl.OWNER_EMAIL] == "bob@example.com"
    assert moved.drift == ""
    aws = kube.get_object(*AWS, "sandbox", "capi-one")
    assert aws is not None
    assert aws["spec"]["additionalTags"]["expiration"] == lbl.iso(moved.expires_at)
    assert aws["spec"]["additionalTags"]["owner"] == "bob@example.com"
    assert moved.expires_at > env.expires_at

    # execution: the new owner deletes it through the confirm button
    uid = fake_slack.user_id("bob")
    slack_http.ask("bob", "/env", "delete capi-one")
    (confirm,) = [
        m for m in fake_slack.visible_messages(uid) if m.ephemeral_to == uid and "Delete" in m.text
    ]
    deleting = slack_http.press("bob", confirm, "delete_now")
    _jobs(runtime, clock, 180)

    # validating: the Cluster went first; then every other object the template made (the fake,
    # unlike CAPI, cascades nothing), and only those
    assert "Deleting `capi-one`" in deleting
    assert kube.get_object(*CAPI, "sandbox", "capi-one") is None
    assert kube.get_object(*KOM, "sandbox", "capi-one") is None
    assert _env(sessions, "capi-one").state == "DELETED"
    assert _labelled(kube, env.id) == []


def _labelled(kube: FakeKubeApiServer, env_id: str) -> list[str]:
    """Every object in the fake labelled with this environment's id, as kind/name."""
    kinds = (
        ("cluster.x-k8s.io", "v1beta1", "clusters"),
        ("cluster.x-k8s.io", "v1beta1", "machinedeployments"),
        ("controlplane.cluster.x-k8s.io", "v1beta1", "kubeadmcontrolplanes"),
        ("bootstrap.cluster.x-k8s.io", "v1beta1", "kubeadmconfigtemplates"),
        ("infrastructure.cluster.x-k8s.io", "v1beta2", "awsclusters"),
        ("infrastructure.cluster.x-k8s.io", "v1beta2", "awsmachinetemplates"),
        ("kommander.mesosphere.io", "v1beta1", "kommanderclusters"),
    )
    return sorted(
        f"{plural}/{obj['metadata']['name']}"
        for group, version, plural in kinds
        for obj in kube.objects(group, version, plural, "sandbox")
        if (obj["metadata"].get("labels") or {}).get(lbl.ENV_ID) == env_id
    )


def test_namespace_template_on_shared_dev(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    # execution
    answer = slack_http.ask("alice", "/env", "create dev alice-ns")
    _jobs(runtime, clock)

    # validating
    assert "Creating `alice-ns`" in answer
    env = _env(sessions, "alice-ns")
    assert env.state == "READY", (env.state, env.failure)
    namespaces = kube.objects("", "v1", "namespaces")
    ours = [n for n in namespaces if n["metadata"].get("labels", {}).get(lbl.ENV_ID) == env.id]
    assert len(ours) == 1
    ns = ours[0]["metadata"]["name"]
    quota = kube.get_object("", "v1", "resourcequotas", ns, "envbot-quota")
    assert quota is not None
    assert quota["spec"]["hard"] == {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20"}
    binding = kube.get_object("rbac.authorization.k8s.io", "v1", "rolebindings", ns, "envbot-owner")
    assert binding is not None
    assert binding["subjects"][0]["name"] == "alice@example.com"

    # execution: hand it to bob; the next pass re-binds the namespace to him
    slack_http.ask("alice", "/env", f"transfer alice-ns <@{fake_slack.user_id('bob')}|bob>")
    _jobs(runtime, clock)

    # validating
    binding = kube.get_object("rbac.authorization.k8s.io", "v1", "rolebindings", ns, "envbot-owner")
    assert binding is not None
    assert [s["name"] for s in binding["subjects"]] == ["bob@example.com"]
    assert binding["roleRef"]["name"] == "edit"

    # execution: delete it
    slack_http.ask("bob", "/env", "delete alice-ns")
    uid = fake_slack.user_id("bob")
    (confirm,) = [
        m for m in fake_slack.visible_messages(uid) if m.ephemeral_to == uid and "Delete" in m.text
    ]
    slack_http.press("bob", confirm, "delete_now")
    _jobs(runtime, clock, 180)

    # validating
    assert _env(sessions, "alice-ns").state == "DELETED"
    assert kube.get_object("", "v1", "namespaces", None, ns) is None


def _thread(fake_slack: FakeSlack, name: str) -> list[str]:
    platform = fake_slack.channel_id("platform")
    (card,) = [m for m in fake_slack.history(platform) if m.text.startswith(f"{name}:")]
    return [m.text for m in fake_slack.replies(platform, card.ts)]


def test_capi_phases_are_posted_once_and_only_when_reached(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    # setup
    slack_http.ask("alice", "/env", "create sandbox capi-two")
    _jobs(runtime, clock)
    md = "capi-two-md-0"  # the example template's MachineDeployment, created by envbot

    def stage(name: str) -> tuple[str, str, list[str]]:
        kube.set_status(*CAPI, "sandbox", "capi-two", st.cluster_status("v1beta1", name))
        if name == "cp_initialized":  # Kommander joins at once
            kube.set_status(*KOM, "sandbox", "capi-two", st.kommander_status(True))
        if st.STAGES.index(name) >= st.STAGES.index("cp_initialized"):
            status = st.md_status("v1beta1", name, cluster="capi-two")
            kube.set_status(*MDS, "sandbox", md, status)
        _jobs(runtime, clock)
        env = _env(sessions, "capi-two")
        return env.state, env.phase, _thread(fake_slack, "capi-two")

    # execution
    seen = {name: stage(name) for name in st.STAGES}

    # validating: nothing claims workers (or READY) before 2 of 2 are available
    for name in ("pending", "infrastructure", "cp_initialized", "workers_0", "workers_1"):
        state, _, thread = seen[name]
        assert state == "PROVISIONING", name
        assert not any(t in thread for t in ("Workers ready", "Attached to Kommander", "Ready"))
    assert seen["cp_initialized"][1] == "infrastructure"  # initialized (1 of 3) is not ready
    assert seen["workers_1"][1] == "control_plane"
    state, phase, thread = seen["workers_2"]
    assert (state, phase) == ("READY", "ready")
    assert [t for t in thread if not t.startswith("Accepted")] == [
        "Infrastructure provisioning",
        "Control plane ready",
        "Workers ready",
        "Attached to Kommander",
        "Ready",
    ]

    # execution: a control plane rollout after READY (ControlPlaneReady back to False)
    kube.set_status(*CAPI, "sandbox", "capi-two", st.cluster_status("v1beta1", "cp_initialized"))
    _jobs(runtime, clock)
    kube.set_status(*CAPI, "sandbox", "capi-two", st.cluster_status("v1beta1", "workers_2"))
    _jobs(runtime, clock)

    # validating: still READY, nothing re-posted
    env = _env(sessions, "capi-two")
    assert (env.state, env.phase) == ("READY", "ready")
    assert _thread(fake_slack, "capi-two") == thread


def test_capi_phase_going_back_while_provisioning_is_not_reposted(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    # setup: control plane ready, one worker of two
    slack_http.ask("alice", "/env", "create sandbox capi-three")
    _jobs(runtime, clock)
    status = st.md_status("v1beta1", "workers_1", cluster="capi-three")
    kube.set_status(*MDS, "sandbox", "capi-three-md-0", status)  # the template's MachineDeployment
    kube.set_status(*CAPI, "sandbox", "capi-three", st.cluster_status("v1beta1", "workers_1"))
    _jobs(runtime, clock)
    before = _thread(fake_slack, "capi-three")

    # execution: ControlPlaneReady goes False (a rollout), then True again
    kube.set_status(*CAPI, "sandbox", "capi-three", st.cluster_status("v1beta1", "cp_initialized"))
    _jobs(runtime, clock)
    during = _env(sessions, "capi-three")
    kube.set_status(*CAPI, "sandbox", "capi-three", st.cluster_status("v1beta1", "workers_1"))
    _jobs(runtime, clock)

    # validating: the furthest phase is kept, and "Control plane ready" was posted once
    assert (during.state, during.phase) == ("PROVISIONING", "control_plane")
    after = _thread(fake_slack, "capi-three")
    assert after == before
    assert after.count("Control plane ready") == 1
    assert "Workers ready" not in after


def test_topology_cluster_stuck_in_reconcile_fails_in_its_thread(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,
    clients: KubeClients,
    clock: ManualClock,
    sessions: sessionmaker[Session],
    fake_slack: FakeSlack,
) -> None:
    # setup: the production workspace and its ClusterClass (with the tags variable)
    clients.management().create(
        NAMESPACE,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "production"}},
    )
    kube.put_object(
        *CC, clusterclass("aws-quick-start", "production", quick_start_variables(TAGS_VARIABLE))
    )
    slack_http.ask("alice", "/env", "create prod-cluster topo-one")
    _jobs(runtime, clock)
    env = _env(sessions, "topo-one")
    cluster = kube.get_object(*CAPI, "production", "topo-one")
    assert env.state == "PROVISIONING", env.failure
    assert cluster is not None
    variables = {v["name"]: v["value"] for v in cluster["spec"]["topology"]["variables"]}
    assert variables["additionalTags"]["owner"] == "alice@example.com"

    # execution: CAPI reports the topology cannot be reconciled, for longer than the grace (10m)
    since = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = {
        "type": "TopologyReconciled",
        "status": "False",
        "reason": "ReconcileFailed",
        "message": "error computing the desired state of the Cluster topology",
        "lastTransitionTime": since,
    }
    kube.set_status(*CAPI, "production", "topo-one", {"conditions": [condition]})
    _jobs(runtime, clock, 11 * 60)

    # validating
    failed = _env(sessions, "topo-one")
    assert failed.state == "FAILED"
    uid = fake_slack.user_id("alice")
    texts = [message_text(m.text, m.blocks) for m in fake_slack.visible_messages(uid)]
    assert any(
        "cannot reconcile the cluster topology (ReconcileFailed): error computing the desired "
        "state of the Cluster topology" in t
        for t in texts
    ), texts
