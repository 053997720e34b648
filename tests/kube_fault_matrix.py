"""The Kubernetes fault matrix: namespace environments, cluster environments and rbac grants
driven over signed HTTP through their whole life (create, ready/active, delete/revoke) with the
real backends on the fake API server failing a share of its requests (409, 500, timeouts).

Counted at the end: flows lost (not DELETED/REVOKED), flows that went FAILED on the way (the
audit trail), outbox rows left open or parked, doubled channel/thread/DM posts, "is deleted" DMs
missing or doubled, foreign objects touched and envbot objects left behind. Used by
`tests/scenario/test_kube_faults.py` (small N) and `bench/kube_faults.py`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import AccessRequest, Environment, Event, OutboxMessage
from bot.demo.fake_slack import FakeSlack
from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.domain.clock import ManualClock
from bot.wiring import Runtime
from provisioning.kube import labels as lbl
from tests import capi_stages as st
from tests.scenario.conftest import REQUEST_ID, SlackClient, buttons, message_text

CAPI = ("cluster.x-k8s.io", "v1beta1", "clusters")
MDS = ("cluster.x-k8s.io", "v1beta1", "machinedeployments")
KOM = ("kommander.mesosphere.io", "v1beta1", "kommanderclusters")
#: Every kind envbot writes in these flows, to find what it left behind.
KINDS = (
    ("", "v1", "namespaces"),
    ("", "v1", "resourcequotas"),
    ("", "v1", "limitranges"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
    CAPI,
    MDS,
    KOM,
    ("controlplane.cluster.x-k8s.io", "v1beta1", "kubeadmcontrolplanes"),
    ("bootstrap.cluster.x-k8s.io", "v1beta1", "kubeadmconfigtemplates"),
    ("infrastructure.cluster.x-k8s.io", "v1beta2", "awsclusters"),
    ("infrastructure.cluster.x-k8s.io", "v1beta2", "awsmachinetemplates"),
)
#: Objects nobody gave envbot, named as its own would be: they must never be written.
FOREIGN: tuple[tuple[tuple[str, str, str], dict[str, Any]], ...] = (
    (("", "v1", "namespaces"), {"metadata": {"name": "not-envbots"}}),
    (
        ("rbac.authorization.k8s.io", "v1", "rolebindings"),
        {
            "metadata": {"name": "team-a-oncall", "namespace": "team-a"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [{"kind": "User", "name": "oncall@example.com"}],
        },
    ),
)


@dataclass
class Figures:
    """What a run of the matrix counted."""

    flows: int
    lost: int
    failed: int
    doubled: int
    unannounced: int
    open_rows: int
    parked: int
    foreign_touched: int
    left_behind: int
    faults: int
    requests: int
    simulated_s: float
    elapsed_s: float
    injected: dict[str, int] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)


@dataclass
class Matrix:
    """One running envbot (its signed Slack client and runtime) and the fakes it talks to."""

    http: SlackClient
    runtime: Runtime
    kube: FakeKubeApiServer
    slack: FakeSlack
    clock: ManualClock
    sessions: sessionmaker[Session]
    ripened: set[str] = field(default_factory=set)

    def seed_foreign(self) -> dict[str, str]:
        """Store the foreign objects; their resourceVersions, keyed by name."""
        versions = {}
        for gvp, obj in FOREIGN:
            stored = self.kube.put_object(*gvp, obj)
            versions[stored["metadata"]["name"]] = stored["metadata"]["resourceVersion"]
        return versions

    def pump(self, until: Any, max_minutes: int = 120) -> None:
        """Run the jobs a minute at a time (the drain's seconds included), completing clusters as
        CAPI and Kommander would, until `until()` holds or `max_minutes` pass."""
        for _ in range(max_minutes):
            self.runtime.jobs.advance(self.clock, timedelta(seconds=57))
            for _ in range(3):
                self.runtime.jobs.advance(self.clock, timedelta(seconds=1))
            self._ripen()
            if until():
                return

    def _ripen(self) -> None:
        """Mark every new envbot Cluster provisioned: its conditions, workers and Kommander."""
        for cluster in self.kube.objects(*CAPI, "sandbox"):
            meta = cluster["metadata"]
            name = meta["name"]
            if name in self.ripened or lbl.ENV_ID not in (meta.get("labels") or {}):
                continue
            if self.kube.get_object(*MDS, "sandbox", f"{name}-md-0") is None:
                continue  # the rest of its objects are not all there yet
            if self.kube.get_object(*KOM, "sandbox", name) is None:
                continue
            for condition in ("InfrastructureReady", "ControlPlaneReady", "Ready"):
                self.kube.set_condition(*CAPI, "sandbox", name, condition, "True", reason="Ready")
            status = st.md_status("v1beta1", "workers_2", cluster=name)
            self.kube.set_status(*MDS, "sandbox", f"{name}-md-0", status)
            joined = {"phase": "Joined", "ingress": {"address": "lb.example"}}
            self.kube.set_status(*KOM, "sandbox", name, joined)
            self.ripened.add(name)

    def envs(self) -> list[Environment]:
        with self.sessions() as s:
            return list(s.scalars(select(Environment)).all())

    def grants(self) -> list[AccessRequest]:
        with self.sessions() as s:
            return list(s.scalars(select(AccessRequest)).all())

    def rows(self) -> list[OutboxMessage]:
        with self.sessions() as s:
            return list(s.scalars(select(OutboxMessage)).all())

    def quiet(self, env_state: str, grant_state: str) -> bool:
        """Every environment and grant reached (or failed short of) the state, outbox drained."""
        settled = {env_state, "FAILED"}
        return (
            all(e.state in settled for e in self.envs())
            and all(g.state in {grant_state, "FAILED"} for g in self.grants())
            and not [r for r in self.rows() if r.status in ("pending", "sending")]
        )

    def create(self, n: int) -> list[str]:
        """`n` namespace and `n` cluster environments and `n` approved grants; the grant ids."""
        req_ids = []
        for i in range(n):
            self._ok(self.http.ask("alice", "/env", f"create dev fns-{i}"), "Creating")
            self._ok(self.http.ask("alice", "/env", f"create sandbox fcl-{i}"), "Creating")
            answer = self.http.ask("alice", "/access", f'request team-a edit 2h "fault run {i}"')
            found = REQUEST_ID.search(answer)
            assert found, answer
            req_id = found.group(1)
            req_ids.append(req_id)
            # approved before the next one: a second pending request for the same role is refused
            self.pump(lambda req_id=req_id: self._cards([req_id]), max_minutes=30)
            self._ok(self.http.press("dave", self._card(req_id), "approve"), "Approved")
        return req_ids

    def end(self, req_ids: list[str]) -> None:
        """Delete every environment (through the confirm button) and revoke every grant."""
        uid = self.slack.user_id("alice")
        for env in self.envs():
            self.http.ask("alice", "/env", f"delete {env.name}")
            confirm = [
                m
                for m in self.slack.visible_messages(uid)
                if m.ephemeral_to == uid
                and env.name in message_text(m.text, m.blocks)
                and any(b["action_id"] == "delete_now" for b in buttons(m.blocks))
            ][-1]
            self.http.press("alice", confirm, "delete_now")
        for req_id in req_ids:
            self.http.ask("alice", "/access", f"revoke {req_id}")

    def _cards(self, req_ids: list[str]) -> bool:
        return all(self._find_card(r) for r in req_ids)

    def _find_card(self, req_id: str) -> list[Any]:
        channel = self.slack.channel_id("platform")
        prefix = f"Access request {req_id}:"
        return [m for m in self.slack.history(channel) if m.text.startswith(prefix)]

    def _card(self, req_id: str) -> Any:
        (card,) = self._find_card(req_id)
        return card

    @staticmethod
    def _ok(answer: str, expected: str) -> None:
        assert expected in answer, answer


def run(matrix: Matrix, *, n: int, rate: float, seed: int, hold: float) -> Figures:
    """The whole matrix: faults on, create, ready, delete and revoke, faults off; the figures."""
    foreign = matrix.seed_foreign()
    profile = matrix.kube.inject_faults(rate, seed, hold=hold)
    started, start = time.monotonic(), matrix.clock.now()
    req_ids = matrix.create(n)
    matrix.pump(lambda: matrix.quiet("READY", "ACTIVE"))
    details = [f"{e.name}: {e.state} {e.failure}" for e in matrix.envs() if e.state != "READY"] + [
        f"{g.id}: {g.state}" for g in matrix.grants() if g.state != "ACTIVE"
    ]
    matrix.end(req_ids)
    matrix.pump(lambda: matrix.quiet("DELETED", "REVOKED"))
    matrix.kube.inject_faults(0)
    requests = len(matrix.kube.requests)
    return _count(matrix, n, foreign, profile.injected, details, requests, start, started)


def _count(
    matrix: Matrix,
    n: int,
    foreign: dict[str, str],
    injected: dict[str, int],
    details: list[str],
    requests: int,
    start: Any,
    started: float,
) -> Figures:
    envs, grants, rows = matrix.envs(), matrix.grants(), matrix.rows()
    with matrix.sessions() as s:  # the audit trail: every move to FAILED, even if recovered
        failed = sorted(set(s.scalars(select(Event.object_id).where(Event.to_state == "FAILED"))))
    lost = [e.name for e in envs if e.state != "DELETED"] + [
        g.id for g in grants if g.state != "REVOKED"
    ]
    lost_count = len(lost) + (3 * n - len(envs) - len(grants))
    carried = Counter(
        str((m.metadata or {}).get("event_payload", {}).get("key"))
        for m in matrix.slack.kept_messages()
    )
    doubled = sum(c - 1 for c in carried.values() if c > 1)
    uid = matrix.slack.user_id("alice")
    told = Counter(
        m.text.split("`")[1]
        for m in matrix.slack.visible_messages(uid)
        if m.dm_user == uid and m.text.endswith("is deleted, with everything in it.")
    )
    unannounced = [e.name for e in envs if told[e.name] != 1]
    touched = [
        name
        for gvp, obj in FOREIGN
        if (
            now := matrix.kube.get_object(
                *gvp, obj["metadata"].get("namespace"), name := obj["metadata"]["name"]
            )
        )
        is None
        or now["metadata"]["resourceVersion"] != foreign[name]
    ]
    writes_to_foreign = [
        r
        for r in matrix.kube.requests
        if r.method != "GET" and any(f"/{name}" in r.path for name in foreign)
    ]
    left = [
        f"{plural}/{obj['metadata']['name']}"
        for group, version, plural in KINDS
        for obj in matrix.kube.objects(group, version, plural)
        if (obj["metadata"].get("labels") or {}).get(lbl.MANAGED) == "true"
        or lbl.ENV_ID in (obj["metadata"].get("labels") or {})
    ]
    return Figures(
        flows=3 * n,
        lost=lost_count,
        failed=len(failed),
        doubled=doubled,
        unannounced=len(unannounced),
        open_rows=sum(1 for r in rows if r.status in ("pending", "sending")),
        parked=sum(1 for r in rows if r.status == "parked"),
        foreign_touched=len(touched) + len(writes_to_foreign),
        left_behind=len(left),
        faults=sum(injected.values()),
        requests=requests,
        simulated_s=(matrix.clock.now() - start).total_seconds(),
        elapsed_s=time.monotonic() - started,
        injected=dict(injected),
        details=details
        + [f"lost {x}" for x in lost]
        + [f"left {x}" for x in left]
        + [f"{x} went FAILED on the way" for x in failed]
        + [f"{x}: 'is deleted' DM sent {told[x]} times" for x in unannounced],
    )
