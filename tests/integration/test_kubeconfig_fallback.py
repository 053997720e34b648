"""The kubeconfig envbot reads, as kubectl picks it: ENVBOT_KUBECONFIG, else $KUBECONFIG, else
~/.kube/config, else the pod's in-cluster config; checked with the real client against the fake
API server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.errors import PermanentError
from provisioning.kube.client import KubeClients
from provisioning.kube.kubeconfig import kubeconfig_source


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty home and no KUBECONFIG, nor the variables that make a process look in-cluster."""
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def kube() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer(version="v1.31.4") as server:
        yield server


def write(path: Path, server: FakeKubeApiServer, context: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(server.kubeconfig(context)), encoding="utf-8")
    return path


def version_seen(clients: KubeClients, name: str = "") -> str:
    try:
        return str(clients.cluster(name).server_version()["gitVersion"])
    finally:
        clients.close()


def test_home_kube_config_is_the_default(home: Path, kube: FakeKubeApiServer) -> None:
    write(home / ".kube" / "config", kube, "laptop")
    assert version_seen(KubeClients()) == "v1.31.4"


def test_kubeconfig_variable_wins_over_home(
    home: Path, tmp_path: Path, kube: FakeKubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeKubeApiServer(version="v1.29.1") as other:
        write(home / ".kube" / "config", other, "home")
        # two files, merged as kubectl merges them; a listed file that is missing is skipped
        first = write(tmp_path / "a.yaml", kube, "a")
        second = write(tmp_path / "b.yaml", other, "b")
        listed = os.pathsep.join([str(tmp_path / "missing.yaml"), str(first), str(second)])
        monkeypatch.setenv("KUBECONFIG", listed)
        assert version_seen(KubeClients()) == "v1.31.4"  # the first file's current-context
        assert version_seen(KubeClients(context="b")) == "v1.29.1"
        # the policy's target clusters name contexts of the same files
        assert version_seen(KubeClients(clusters={"shared": "b"}), "shared") == "v1.29.1"


def test_envbot_kubeconfig_wins_over_kubeconfig(
    home: Path, tmp_path: Path, kube: FakeKubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeKubeApiServer(version="v1.29.1") as other:
        monkeypatch.setenv("KUBECONFIG", str(write(tmp_path / "env.yaml", other, "env")))
        explicit = write(tmp_path / "explicit.yaml", kube, "explicit")
        assert version_seen(KubeClients(str(explicit))) == "v1.31.4"


def test_with_no_kubeconfig_outside_a_pod_it_says_where_it_looked(home: Path) -> None:
    clients = KubeClients()
    with pytest.raises(PermanentError) as err:
        clients.management()
    assert str(err.value).startswith(
        "no kubeconfig found (ENVBOT_KUBECONFIG is unset and ~/.kube/config is absent) and the "
        "in-cluster config failed (not in a pod?): "
    )
    assert str(err.value).endswith("; set ENVBOT_KUBECONFIG or KUBECONFIG")


def test_a_context_without_any_kubeconfig_is_refused_in_words(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(PermanentError) as err:
        KubeClients(context="mgmt").management()
    assert str(err.value) == (
        f"context 'mgmt' needs a kubeconfig, and none was found: ENVBOT_KUBECONFIG is unset and "
        f"$KUBECONFIG ({tmp_path / 'gone.yaml'}) lists no existing file; set ENVBOT_KUBECONFIG"
    )


def test_in_a_pod_without_kubeconfig_the_in_cluster_config_is_chosen(home: Path) -> None:
    # load_incluster_config reads fixed /var/run/secrets paths: the choice itself is checked
    assert kubeconfig_source(None, environ={}, home=home) is None
    assert kubeconfig_source(None, environ={"KUBECONFIG": ""}, home=home) is None
