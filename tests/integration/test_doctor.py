"""`envbot doctor` against the fake Slack and the fake Kubernetes API server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.db import migrate
from bot.demo.fake_slack import FakeSlack
from bot.doctor import run_checks
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.fakes.kube_capi import TAGS_VARIABLE, clusterclass, quick_start_variables

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_database_url: str):
    with FakeSlack() as slack, FakeKubeApiServer() as kube:
        kube.put_object(
            "",
            "v1",
            "namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sandbox"}},
        )
        kube.put_object(
            "",
            "v1",
            "namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "production"}},
        )
        # prod-cluster's ClusterClass, declaring what the example policy passes
        kube.put_object(
            "cluster.x-k8s.io",
            "v1beta1",
            "clusterclasses",
            clusterclass("aws-quick-start", "production", quick_start_variables(TAGS_VARIABLE)),
        )
        config = kube.write_kubeconfig(tmp_path / "kubeconfig")
        for key, value in {
            "ENVBOT_SLACK__BOT_TOKEN": slack.token,
            "ENVBOT_SLACK__SIGNING_SECRET": "s",
            "ENVBOT_SLACK__API_URL": slack.api_url,
            "ENVBOT_DATABASE_URL": fresh_database_url,
            "ENVBOT_POLICY_FILE": str(ROOT / "examples" / "policy.yaml"),
            "ENVBOT_KUBECONFIG": str(config),
            "ENVBOT_KUBE_CONTEXT": "fake",
        }.items():
            monkeypatch.setenv(key, value)
        yield fresh_database_url, kube


def test_all_green_after_migrate(env) -> None:
    install_id = migrate.upgrade(env[0])
    checks = {c.name: c for c in run_checks()}
    assert all(c.ok for c in checks.values()), checks
    assert checks["database"].detail.endswith(f", install id {install_id}")
    assert (
        "can list clusters and machinedeployments in sandbox (sandbox)"
        in checks["kubernetes"].detail
    )
    assert checks["slack"].detail.startswith("HTTP, bot @")
    assert checks["clusterclasses"].detail == (
        "variables fit the ClusterClass of prod-cluster (aws-quick-start)"
    )


def test_names_the_template_and_variable_the_clusterclass_does_not_declare(env) -> None:
    # setup: the class as CAPA ships it, without the tags variable the policy names
    _, kube = env
    kube.put_object(
        "cluster.x-k8s.io",
        "v1beta1",
        "clusterclasses",
        clusterclass("aws-quick-start", "production", quick_start_variables()),
    )

    # execution
    checks = {c.name: c for c in run_checks()}

    # validating
    assert not checks["clusterclasses"].ok
    assert checks["clusterclasses"].detail == (
        "template prod-cluster: variable additionalTags is not declared by ClusterClass "
        "aws-quick-start (declared: controlPlaneMachineType, region, sshKeyName, "
        "workerMachineType)"
    )


def test_says_when_envbot_install_id_disagrees(env, monkeypatch: pytest.MonkeyPatch) -> None:
    migrate.upgrade(env[0], install_id="inst-a")
    monkeypatch.setenv("ENVBOT_INSTALL_ID", "inst-b")
    checks = {c.name: c for c in run_checks()}
    assert not checks["database"].ok
    assert "ENVBOT_INSTALL_ID is 'inst-b' but this database belongs to install 'inst-a'" in (
        checks["database"].detail
    )


def test_says_what_is_wrong(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVBOT_SLACK__BOT_TOKEN", "xoxb-wrong")
    checks = {c.name: c for c in run_checks()}
    assert not checks["database"].ok
    assert "run `envbot migrate`" in checks["database"].detail
    assert not checks["slack"].ok
    assert "invalid_auth" in checks["slack"].detail
