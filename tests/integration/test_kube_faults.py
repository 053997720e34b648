"""The fake API server's random faults as the real `kubernetes` client sees them (a Conflict
Status that applied nothing, an InternalError before or after the write, a request held past
the client's read timeout), and envbot's KubeClient riding them out without doing anything twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.faults import KubeFault, KubeFaultProfile
from provisioning.kube.client import NAMESPACE, KubeClients
from provisioning.ownership import INSTALL_ID, Owner
from tests.fakes.kube_client import api_client

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n1", "labels": {"a": "b"}}}


@pytest.fixture
def fake() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        yield server


def _core(fake: FakeKubeApiServer) -> Any:
    return k8s.CoreV1Api(api_client(fake))


def _status(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as caught:
        call()
    return int(caught.value.status), json.loads(str(caught.value.body))


def _only(fake: FakeKubeApiServer, kind: str, after: bool | None = None) -> KubeFaultProfile:
    """Every request faulted with `kind`; `after` forced when given."""
    profile = fake.inject_faults(1.0, kinds=(kind,), hold=0.3)
    if after is not None:
        original = profile.pick

        def pick(method: str) -> Any:
            plan = original(method)
            return plan and type(plan)(plan.kind, after and method != "GET")

        profile.pick = pick  # type: ignore[method-assign]
    return profile


def test_a_conflict_is_a_status_on_writes_only_and_applies_nothing(fake):
    # setup
    _only(fake, "409")
    core = _core(fake)

    # execution
    code, body = _status(lambda: core.create_namespace(NS))
    listed = core.list_namespace()

    # validating: kube-apiserver's Conflict Status; nothing stored; reads are not conflicted
    assert code == 409
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Conflict", 409)
    assert body["details"] == {"name": "n1", "kind": "namespaces"}
    assert 'Operation cannot be fulfilled on namespaces "n1"' in body["message"]
    assert "n1" not in [n.metadata.name for n in listed.items]


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_an_internal_error_hides_or_not_an_applied_write(fake, after):
    # setup
    _only(fake, "500", after=after)
    core = _core(fake)

    # execution
    code, body = _status(lambda: core.create_namespace(NS))
    fake.inject_faults(0)

    # validating
    assert (code, body["reason"]) == (500, "InternalError")
    assert (fake.get_object("", "v1", "namespaces", None, "n1") is not None) is after


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_a_held_request_times_the_client_out_applied_or_not(fake, after):
    # setup
    _only(fake, "timeout", after=after)
    core = _core(fake)

    # execution
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        core.create_namespace(NS, _request_timeout=(1.0, 0.1))
    fake.inject_faults(0)

    # validating
    assert (fake.get_object("", "v1", "namespaces", None, "n1") is not None) is after


def test_rate_zero_stops_and_unknown_kinds_are_refused(fake):
    # execution
    fake.inject_faults(0)
    with pytest.raises(ValueError, match="the fault kinds are 409, 500, timeout"):
        fake.inject_faults(0.2, kinds=("503",))

    # validating
    assert _core(fake).list_namespace().items
    assert fake.faults is None


def test_the_profile_is_reproducible_and_near_its_rate():
    # execution
    profiles = [KubeFaultProfile(0.2, seed=5), KubeFaultProfile(0.2, seed=5)]
    picks = [[profile.pick("PUT") for _ in range(2000)] for profile in profiles]

    # validating: same seed, same faults; about a fifth; a GET never gets a Conflict
    assert picks[0] == picks[1]
    assert 300 < sum(1 for p in picks[0] if p) < 500
    reads = [KubeFaultProfile(1.0, seed=s).pick("GET") for s in range(50)]
    assert all(p is not None and p.kind is not KubeFault.CONFLICT and not p.after for p in reads)


@pytest.fixture
def kube(fake: FakeKubeApiServer, tmp_path: Path) -> Iterator[KubeClients]:
    config = fake.write_kubeconfig(tmp_path / "kubeconfig")
    clients = KubeClients(str(config), "fake", timeout=(1.0, 0.1))
    yield clients
    clients.close()


@pytest.mark.parametrize(
    ("kind", "after"), [("500", True), ("timeout", True), ("409", False), ("500", False)]
)
def test_a_create_rides_out_one_fault_and_adopts_what_it_wrote(fake, kube, kind, after):
    # setup: the first request fails, the rest do not
    fake.inject_faults(1.0, kinds=(kind,), hold=0.2)
    profile = fake.faults
    assert profile is not None
    original = profile.pick
    calls: list[str] = []

    def once(method: str) -> Any:
        calls.append(method)
        plan = original(method) if len(calls) == 1 else None
        return plan and type(plan)(plan.kind, after)

    profile.pick = once

    # execution
    created = kube.management().create(NAMESPACE, NS)

    # validating: created once (no error), the object stored is the one returned
    stored = fake.get_object("", "v1", "namespaces", None, "n1")
    assert stored is not None
    assert created["metadata"]["uid"] == stored["metadata"]["uid"]
    assert [r.method for r in fake.requests].count("POST") >= 2


def test_an_owned_delete_whose_answer_was_lost_is_not_sent_twice_into_a_new_object(fake, kube):
    # setup: ours; the delete applies but its answer is a 500
    owner = Owner("envbot.io/env-id", "e1", "inst-a")
    labels = {"envbot.io/env-id": "e1", INSTALL_ID: "inst-a"}
    body = {**NS, "metadata": {"name": "n1", "labels": labels}}
    kube.management().create(NAMESPACE, body)
    _only(fake, "500", after=True)
    profile = fake.faults
    assert profile is not None
    original = profile.pick
    seen: list[str] = []

    def first_delete(method: str) -> Any:
        seen.append(method)
        return original(method) if method == "DELETE" and seen.count("DELETE") == 1 else None

    profile.pick = first_delete

    # execution
    result = kube.management().delete_owned(NAMESPACE, "n1", None, owner)

    # validating: gone, reported deleted or absent, and the repeat was refused, not applied
    assert result in ("deleted", "absent")
    assert fake.get_object("", "v1", "namespaces", None, "n1") is None
