"""A fifth of the fake API server's answers failing (409 Conflicts, 500s and timeouts, before
and after the write applied) while namespace and cluster environments and rbac grants live
their whole life over signed HTTP: nothing lost, doubled, stuck, left behind or foreign touched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.demo.fake_slack import FakeSlack
from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.domain.clock import ManualClock
from bot.policy import Policy
from bot.wiring import Runtime
from provisioning.base import AccessBackend, EnvironmentBackend
from provisioning.kube.client import NAMESPACE, KubeClients
from provisioning.registry import build_access_backends, build_environment_backends
from tests.kube_fault_matrix import Matrix, run
from tests.scenario import test_environments_capi as capi_scenario
from tests.scenario.conftest import SlackClient

kube = capi_scenario.kube
policy = capi_scenario.policy

#: The client gives up after READ_TIMEOUT; a held request answers (to nobody) after HOLD.
READ_TIMEOUT, HOLD = 0.15, 0.2


@pytest.fixture
def clients(kube: FakeKubeApiServer, tmp_path: Path, policy: Policy) -> Iterator[KubeClients]:
    """Clients for the management context and every policy cluster, with a short timeout."""
    path = kube.write_kubeconfig(
        tmp_path / "kubeconfig", "mgmt", [c.context for c in policy.clusters.values()]
    )
    contexts = {name: c.context for name, c in policy.clusters.items()}
    kc = KubeClients(str(path), "mgmt", contexts, timeout=(1.0, READ_TIMEOUT))
    for name in ("sandbox", "team-a"):
        kc.management().create(
            NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
    yield kc
    kc.close()


@pytest.fixture
def env_backends(clients: KubeClients, clock: ManualClock) -> dict[str, EnvironmentBackend]:
    return build_environment_backends(clock, clients)


@pytest.fixture
def access_backends(clients: KubeClients) -> dict[str, AccessBackend]:
    return build_access_backends(clients)


def test_twenty_percent_api_server_faults_lose_double_and_leave_nothing(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,
    fake_slack: FakeSlack,
    clock: ManualClock,
    sessions: sessionmaker[Session],
) -> None:
    # setup
    matrix = Matrix(slack_http, runtime, kube, fake_slack, clock, sessions)

    # execution: 2 namespaces, 2 clusters, 2 grants, from request to the end, 20 % faults
    figures = run(matrix, n=2, rate=0.2, seed=4, hold=HOLD)

    # validating: the faults happened, of every kind, and cost nothing
    assert figures.faults > 10, figures
    assert {"409", "500", "timeout"} <= {kind.split("_")[0] for kind in figures.injected}
    assert any(kind.endswith("_after") for kind in figures.injected)  # hidden successes too
    assert figures.details == []
    assert (figures.lost, figures.failed, figures.doubled, figures.unannounced) == (0, 0, 0, 0)
    assert (figures.open_rows, figures.parked) == (0, 0)
    assert (figures.foreign_touched, figures.left_behind) == (0, 0)
