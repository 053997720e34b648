"""The in-memory backends move through phases on simulated time and fail or drift on demand."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.clock import ManualClock
from bot.errors import PermanentError, TemporaryError
from provisioning.base import ClusterTopology, EnvSpec, GrantSpec, Phase
from provisioning.fake import FakeAccessBackend, FakeEnvironmentBackend
from provisioning.registry import build_access_backends, build_environment_backends

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def cluster_spec(env_id: str = "e1") -> EnvSpec:
    return EnvSpec(
        env_id=env_id,
        name=f"dev-{env_id}",
        workspace="sandbox",
        namespace="sandbox",
        template="small",
        owner_id="U1",
        owner_email="alice@example.com",
        expires_at=START + timedelta(days=1),
        topology=ClusterTopology("aws", "v1.29.6"),
    )


def namespace_spec(env_id: str = "n1") -> EnvSpec:
    return EnvSpec(
        env_id=env_id,
        name=f"ns-{env_id}",
        workspace="sandbox",
        namespace=f"ns-{env_id}",
        template="ns",
        owner_id="U1",
        owner_email="alice@example.com",
        expires_at=START + timedelta(days=1),
        cluster_ref="shared",
    )


def grant_spec(grant_id: str = "g1") -> GrantSpec:
    return GrantSpec(
        grant_id=grant_id,
        subject="alice@example.com",
        workspace="sandbox",
        namespace="sandbox",
        role="admin",
        expires_at=START + timedelta(hours=4),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def phase_at(
    backend: FakeEnvironmentBackend, clock: ManualClock, spec: EnvSpec, minutes: float
) -> Phase:
    clock.set(START + timedelta(minutes=minutes))
    return backend.observe([spec])[spec.env_id].phase


def test_cluster_env_walks_every_phase_and_is_ready_within_30_minutes(clock):
    # setup
    backend = FakeEnvironmentBackend(clock)
    spec = cluster_spec()

    # execution
    backend.create(spec)
    seen = {m: phase_at(backend, clock, spec, m) for m in (0, 4.9, 5, 15, 22, 26, 27.9, 28, 30)}

    # validating
    assert seen == {
        0: Phase.ACCEPTED,
        4.9: Phase.ACCEPTED,
        5: Phase.INFRASTRUCTURE,
        15: Phase.CONTROL_PLANE,
        22: Phase.WORKERS,
        26: Phase.ATTACHED,
        27.9: Phase.ATTACHED,
        28: Phase.READY,
        30: Phase.READY,
    }
    ready = backend.observe([spec])[spec.env_id]
    assert ready.endpoints == {"api_server": "https://dev-e1.sandbox.example.com/dkp/api-server"}
    assert ready.exists
    assert not ready.drift


def test_namespace_env_is_ready_after_a_minute(clock):
    backend = FakeEnvironmentBackend(clock)
    spec = namespace_spec()
    backend.create(spec)
    assert phase_at(backend, clock, spec, 0.5) is Phase.ACCEPTED
    assert phase_at(backend, clock, spec, 1) is Phase.READY


def test_repeated_create_keeps_the_original_start(clock):
    backend = FakeEnvironmentBackend(clock)
    spec = cluster_spec()
    backend.create(spec)
    clock.advance(timedelta(minutes=20))
    backend.create(spec)
    assert phase_at(backend, clock, spec, 28) is Phase.READY
    assert backend.calls[:2] == [("create", "e1"), ("create", "e1")]


def test_delete_takes_five_minutes_then_the_env_is_gone(clock):
    # setup
    backend = FakeEnvironmentBackend(clock)
    spec = cluster_spec()
    backend.create(spec)
    clock.set(START + timedelta(minutes=30))

    # execution
    backend.delete(spec)
    backend.delete(spec)  # idempotent: the five minutes do not restart

    # validating
    assert phase_at(backend, clock, spec, 34) is Phase.DELETING
    gone = backend.observe([spec])["e1"]
    assert gone.exists
    clock.set(START + timedelta(minutes=35))
    gone = backend.observe([spec])["e1"]
    assert gone.phase is Phase.DELETED
    assert not gone.exists
    assert not backend.exists("e1")
    backend.create(spec)  # after DELETED a new create starts afresh
    assert backend.observe([spec])["e1"].phase is Phase.ACCEPTED


def test_create_while_deleting_is_temporary(clock):
    backend = FakeEnvironmentBackend(clock)
    spec = cluster_spec()
    backend.create(spec)
    backend.delete(spec)
    with pytest.raises(TemporaryError, match="still being deleted"):
        backend.create(spec)


def test_unknown_env_is_deleted_and_absent(clock):
    observed = FakeEnvironmentBackend(clock).observe([cluster_spec("nope")])
    assert observed["nope"].phase is Phase.DELETED
    assert not observed["nope"].exists


def test_fail_next_create_fails_once(clock):
    backend = FakeEnvironmentBackend(clock)
    backend.fail_next_create("quota exceeded in eu-west-1")
    with pytest.raises(PermanentError, match="quota exceeded"):
        backend.create(cluster_spec())
    assert not backend.exists("e1")
    backend.create(cluster_spec())
    assert backend.exists("e1")


def test_fail_next_create_can_be_temporary(clock):
    backend = FakeEnvironmentBackend(clock)
    backend.fail_next_create("API busy", temporary=True)
    with pytest.raises(TemporaryError, match="API busy"):
        backend.create(cluster_spec())


def test_fail_reports_failed_with_the_reason(clock):
    backend = FakeEnvironmentBackend(clock)
    backend.create(cluster_spec())
    backend.fail("e1", "AWS quota exceeded")
    observed = phase_at(backend, clock, cluster_spec(), 40)
    assert observed is Phase.FAILED
    assert backend.observe([cluster_spec()])["e1"].failure == "AWS quota exceeded"


def test_vanish_is_reported_as_drift(clock):
    backend = FakeEnvironmentBackend(clock)
    spec = cluster_spec()
    backend.create(spec)
    clock.advance(timedelta(minutes=30))
    assert backend.observe([spec])["e1"].drift == ""
    backend.vanish("e1")
    assert "removed outside envbot" in backend.observe([spec])["e1"].drift


def test_observe_many_envs_at_once(clock):
    backend = FakeEnvironmentBackend(clock)
    backend.create(cluster_spec("a"))
    clock.advance(timedelta(minutes=16))
    backend.create(cluster_spec("b"))
    observed = backend.observe([cluster_spec("a"), cluster_spec("b"), cluster_spec("c")])
    assert {k: v.phase for k, v in observed.items()} == {
        "a": Phase.CONTROL_PLANE,
        "b": Phase.ACCEPTED,
        "c": Phase.DELETED,
    }


def test_fake_env_backend_is_thread_safe(clock):
    backend = FakeEnvironmentBackend(clock)
    specs = [cluster_spec(str(i)) for i in range(50)]
    threads = [threading.Thread(target=backend.create, args=(s,)) for s in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(backend.observe(specs)) == 50
    assert sum(1 for call in backend.calls if call[0] == "create") == 50


def test_access_grant_revoke_and_records():
    backend = FakeAccessBackend()
    backend.grant(grant_spec("a"))
    backend.grant(grant_spec("b"))
    backend.revoke(grant_spec("a"))
    backend.revoke(grant_spec("a"))
    assert set(backend.active()) == {"b"}
    assert backend.calls == [("grant", "a"), ("grant", "b"), ("revoke", "a"), ("revoke", "a")]


def test_access_fail_next_grant_then_succeeds():
    backend = FakeAccessBackend()
    backend.fail_next_grant("no such workspace role")
    with pytest.raises(PermanentError, match="no such workspace role"):
        backend.grant(grant_spec())
    backend.grant(grant_spec())
    assert "g1" in backend.active()


def test_access_fail_revokes_n_times_then_revokes():
    backend = FakeAccessBackend()
    backend.grant(grant_spec())
    backend.fail_revokes(2)
    for _ in range(2):
        with pytest.raises(TemporaryError):
            backend.revoke(grant_spec())
    assert "g1" in backend.active()
    backend.revoke(grant_spec())
    assert backend.active() == {}


def test_access_drift_is_reported_until_granted_again():
    backend = FakeAccessBackend()
    backend.grant(grant_spec("a"))
    backend.grant(grant_spec("b"))
    assert backend.drifted([grant_spec("a"), grant_spec("b")]) == {}
    backend.drift("a", "VirtualGroup envbot-a is missing")
    assert backend.drifted([grant_spec("a"), grant_spec("b")]) == {
        "a": "VirtualGroup envbot-a is missing"
    }
    backend.grant(grant_spec("a"))
    assert backend.drifted([grant_spec("a")]) == {}


def test_registry_without_clients_has_only_the_fakes(clock):
    envs = build_environment_backends(clock)
    access = build_access_backends()
    assert set(envs) == {"fake"}
    assert set(access) == {"fake"}
    assert isinstance(envs["fake"], FakeEnvironmentBackend)
    assert envs["fake"].name == "fake"
    assert access["fake"].name == "fake"
