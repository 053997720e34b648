"""P4 on the fake API server with the real `kubernetes` client: an observe pass costs the same
API requests whatever the number of environments, loads no READY environment at rest (yet sees
drift on one at once), and never waits for a create; a create cut short runs again."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment
from bot.domain.clock import ManualClock
from provisioning.base import EnvironmentBackend, EnvSpec, Observation
from provisioning.kube.namespace import OWNER_BINDING
from tests.reconcile_world import World, world


def _ready(w: World, clock: ManualClock) -> None:
    """Pass until every environment is READY (namespaces are ready once their objects are)."""
    for _ in range(4):
        w.tick()
        clock.set(clock.now() + timedelta(seconds=15))
    assert set(w.states()) == {"READY"}, w.states()


def _idle_requests(w: World) -> list[tuple[str, str, str | None]]:
    w.api.clear_requests()
    w.tick()
    return sorted((r.method, r.path, r.param("labelSelector")) for r in w.requests())


def test_requests_per_observe_pass_do_not_grow_with_n(
    sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    # setup: 2 READY environments, then 8
    with world(sessions, clock, tmp_path) as w:
        w.add(2)
        _ready(w, clock)
        at_two = _idle_requests(w)
        w.add(6)
        _ready(w, clock)

        # execution
        at_eight = _idle_requests(w)

    # validating: one list per kind in the cluster, by label, the same at 2 and at 8
    assert at_two == at_eight
    assert at_eight == [
        ("GET", "/api/v1/limitranges", "envbot.io/managed=true"),
        ("GET", "/api/v1/namespaces", "envbot.io/managed=true"),
        ("GET", "/api/v1/resourcequotas", "envbot.io/managed=true"),
        ("GET", "/apis/rbac.authorization.k8s.io/v1/rolebindings", "envbot.io/managed=true"),
    ]


def test_an_idle_pass_loads_no_ready_environment_yet_sees_drift_at_once(
    sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    # setup: 5 READY environments, at rest
    with world(sessions, clock, tmp_path) as w:
        ids = w.add(5)
        _ready(w, clock)
        with w.loads.measuring() as idle:
            w.tick()
        with sessions() as s:
            victim = s.get(Environment, ids[2])
            assert victim is not None
        w.api.delete_object(
            "rbac.authorization.k8s.io", "v1", "rolebindings", victim.name, OWNER_BINDING
        )

        # execution: the pass after the out-of-band delete, then the one after the re-apply
        with w.loads.measuring() as drifted:
            w.tick()
        with sessions() as s:
            drift = s.get(Environment, ids[2]).drift  # type: ignore[union-attr]
        clock.set(clock.now() + timedelta(seconds=15))
        w.tick()
        with sessions() as s:
            after = s.get(Environment, ids[2]).drift  # type: ignore[union-attr]
        binding = w.api.get_object(
            "rbac.authorization.k8s.io", "v1", "rolebindings", victim.name, OWNER_BINDING
        )

    # validating
    assert idle.count == 0, idle.rows
    # the drifted one only, by id (read, then locked to record the drift)
    assert {env_id for env_id, _ in drifted.rows} == {ids[2]}
    assert drift == f"RoleBinding {victim.name}/{OWNER_BINDING} is missing"
    assert after == ""  # re-applied (drift: reapply), and the episode closed
    assert binding is not None


class Gate:
    """Stands around a real backend and holds every create until `open` (a test's hook)."""

    def __init__(self, inner: EnvironmentBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.opened = threading.Event()
        self.opened.set()
        self.started: list[str] = []

    def create(self, spec: EnvSpec) -> None:
        self.started.append(spec.env_id)
        assert self.opened.wait(30), "the gate was never opened"
        self.inner.create(spec)

    def observe(
        self, specs: list[EnvSpec], *, expected_ready: bool = False
    ) -> dict[str, Observation]:
        return self.inner.observe(specs, expected_ready=expected_ready)

    def delete(self, spec: EnvSpec) -> None:
        self.inner.delete(spec)


def _pass_in_thread(w: World) -> bool:
    """Run one pass (no settle) in a thread; True if it returned (a guard against a hang)."""
    worker = threading.Thread(target=w.reconciler.reconcile, daemon=True)
    worker.start()
    worker.join(20)
    return not worker.is_alive()


def test_observe_goes_on_while_a_create_is_blocked(
    sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    # setup: one READY environment; then the gate shuts and a second one is asked for
    with world(sessions, clock, tmp_path, concurrency=2, wrap=Gate) as w:
        gate = w.backend
        assert isinstance(gate, Gate)
        [ready_id] = w.add(1)
        _ready(w, clock)
        gate.opened.clear()
        [blocked_id] = w.add(1)
        with sessions() as s:
            ready_name = s.get(Environment, ready_id).name  # type: ignore[union-attr]

        # execution: a pass hands the create over; the next sees drift on the READY one
        first = _pass_in_thread(w)
        w.api.delete_object(
            "rbac.authorization.k8s.io", "v1", "rolebindings", ready_name, OWNER_BINDING
        )
        second = _pass_in_thread(w)
        with sessions() as s:
            drift_meanwhile = s.get(Environment, ready_id).drift  # type: ignore[union-attr]
            blocked = s.get(Environment, blocked_id)
            created_meanwhile = blocked.created  # type: ignore[union-attr]
        busy = w.reconciler.calls.busy(blocked_id)
        gate.opened.set()
        w.reconciler.settle()
        _ready(w, clock)

    # validating
    assert first  # neither pass waited for the create
    assert second
    assert busy
    assert not created_meanwhile
    assert drift_meanwhile == f"RoleBinding {ready_name}/{OWNER_BINDING} is missing"
    assert gate.started.count(blocked_id) == 1  # handed over once, though two passes saw it


def test_creates_dropped_at_shutdown_run_again_on_a_later_pass(
    sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    # setup: one create at a time, the first held, two waiting behind it
    with world(sessions, clock, tmp_path, concurrency=1, wrap=Gate) as w:
        gate = w.backend
        assert isinstance(gate, Gate)
        gate.opened.clear()
        ids = w.add(3)
        w.reconciler.reconcile()

        # execution: shut the pool (the waiting creates are dropped), let the held one end
        w.reconciler.close()
        gate.opened.set()
        w.reconciler.settle()
        with sessions() as s:
            created_then = sorted(
                e.id for e in s.scalars(select(Environment).where(Environment.created.is_(True)))
            )
        _ready(w, clock)

    # validating: only the running create finished; the next passes made the others
    assert len(created_then) == 1
    assert sorted(gate.started) == sorted(ids)  # each create ran once: dropped ones never began
