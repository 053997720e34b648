"""`envbot doctor` against the fake Slack and the fake Kubernetes API server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.db import migrate
from bot.demo.fake_slack import FakeSlack
from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.capi import TAGS_VARIABLE, clusterclass, quick_start_variables
from bot.doctor import run_checks
from bot.services.journal import Journal

ROOT = Path(__file__).resolve().parents[2]


def merged_kubeconfig(path: Path, *contexts: tuple[FakeKubeApiServer, str]) -> Path:
    """One kubeconfig with a context per (fake API server, context name)."""
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "current-context": ""}
    for server, name in contexts:
        one = server.kubeconfig(name)
        for key in ("clusters", "users", "contexts"):
            merged.setdefault(key, []).extend(one[key])
        merged["current-context"] = merged["current-context"] or name
    path.write_text(yaml.safe_dump(merged), encoding="utf-8")
    return path


@pytest.fixture
def target() -> Iterator[FakeKubeApiServer]:
    """The policy's `shared-dev` cluster (examples/policy.yaml), a Kubernetes new enough."""
    with FakeKubeApiServer(version="v1.31.4") as kube:
        yield kube


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fresh_database_url: str,
    target: FakeKubeApiServer,
    moto_url: str,
):
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
        config = merged_kubeconfig(tmp_path / "kubeconfig", (kube, "fake"), (target, "shared-dev"))
        for key, value in {
            "ENVBOT_SLACK__BOT_TOKEN": slack.token,
            "ENVBOT_SLACK__SIGNING_SECRET": "s",
            "ENVBOT_SLACK__API_URL": slack.api_url,
            "ENVBOT_DATABASE_URL": fresh_database_url,
            "ENVBOT_POLICY_FILE": str(ROOT / "examples" / "policy.yaml"),
            "ENVBOT_KUBECONFIG": str(config),
            "ENVBOT_KUBE_CONTEXT": "fake",
            # boto3's own setting: the cleanup's STS calls go to moto
            "AWS_ENDPOINT_URL": moto_url,
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
    assert not checks["admission"].warn
    assert checks["admission"].detail == (
        "shared-dev (v1.31.4) can run the admission policy "
        "(kubectl apply -k deploy/target-cluster/admission)"
    )
    assert checks["clusterclasses"].detail == (
        "variables fit the ClusterClass of prod-cluster (aws-quick-start)"
    )
    assert not checks["approvals"].warn
    assert checks["approvals"].detail == "every approval threshold can be met"
    assert (
        "sandbox: arn:aws:sts::123456789012:user/moto as "
        "arn:aws:sts::123456789012:assumed-role/envbot/envbot;" in checks["aws"].detail
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


def test_says_where_acks_are_journaled_and_when_they_cannot_be(
    env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the default: beside a SQLite file, off for PostgreSQL
    default = {c.name: c for c in run_checks()}["ack journal"]
    assert default.ok, default
    if env[0].startswith("sqlite"):
        assert default.detail.endswith("-acks (beside the SQLite database)"), default
    else:
        assert default.detail == "off: each ack waits for its database write", default
    # a folder that is not there (a volume not mounted)
    monkeypatch.setenv("ENVBOT_ACK_JOURNAL", str(tmp_path / "missing" / "acks"))
    missing = {c.name: c for c in run_checks()}["ack journal"]
    assert not missing.ok
    assert missing.detail.startswith(f"{tmp_path / 'missing'} does not exist; mount a writable")
    assert "ENVBOT_ACK_JOURNAL=off" in missing.detail
    # a file that is something else
    other = tmp_path / "other"
    other.write_bytes(b"x" * 100)
    monkeypatch.setenv("ENVBOT_ACK_JOURNAL", str(other))
    wrong = {c.name: c for c in run_checks()}["ack journal"]
    assert not wrong.ok
    assert wrong.detail.startswith(f"{other} is not an envbot journal file"), wrong
    # a journal (in use or not) and off
    Journal(tmp_path / "acks", 64 * 1024).close()
    monkeypatch.setenv("ENVBOT_ACK_JOURNAL", str(tmp_path / "acks"))
    assert {c.name: c for c in run_checks()}["ack journal"].detail == str(tmp_path / "acks")
    monkeypatch.setenv("ENVBOT_ACK_JOURNAL", "off")
    assert {c.name: c for c in run_checks()}["ack journal"].ok


def test_says_what_is_wrong(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVBOT_SLACK__BOT_TOKEN", "xoxb-wrong")
    checks = {c.name: c for c in run_checks()}
    assert not checks["database"].ok
    assert "run `envbot migrate`" in checks["database"].detail
    assert not checks["slack"].ok
    assert "invalid_auth" in checks["slack"].detail


@pytest.mark.parametrize(
    ("version", "shown"), [("v1.28.9-eks-036c24b", "v1.28"), ("v1.29.0", "v1.29")]
)
def test_says_when_a_target_cluster_is_too_old_for_the_admission_policy(
    env: str, target: FakeKubeApiServer, version: str, shown: str
) -> None:
    target.version = version
    target.clear_requests()
    checks = {c.name: c for c in run_checks()}
    admission = checks["admission"]
    assert admission.ok  # envbot still works there: a warning, not a failure
    assert admission.warn
    assert admission.detail == (
        f"the admission policy needs Kubernetes >= 1.30; shared-dev runs {shown}: envbot's "
        "ownership checks still apply, but without the second fence"
    )
    assert [(r.method, r.path) for r in target.requests] == [
        ("GET", "/version/")
    ]  # the python client asks with a slash


def test_an_unreachable_target_cluster_fails_the_check(
    env: str, target: FakeKubeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    target.stop()
    admission = {c.name: c for c in run_checks()}["admission"]
    assert not admission.ok
    assert admission.detail.startswith("cannot read /version of shared-dev: ")
    assert admission.detail.endswith("check its context `shared-dev` in ENVBOT_KUBECONFIG")


def test_warns_when_a_threshold_is_higher_than_the_approvers_who_resolve(
    env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: production admin needs 4 (carol, erin and, on escalation, bob: 3 resolve) and
    # prod-cluster needs 3 (reachable only once @platform-leads is escalated to)
    migrate.upgrade(env[0])
    policy = yaml.safe_load((ROOT / "examples" / "policy.yaml").read_text(encoding="utf-8"))
    policy["workspaces"]["production"]["roles"]["admin"]["approvals"] = {"required": 4}
    policy["templates"]["prod-cluster"]["approvals"] = {"required": 3}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy), encoding="utf-8")
    shutil.copytree(ROOT / "examples" / "templates", tmp_path / "templates")
    monkeypatch.setenv("ENVBOT_POLICY_FILE", str(path))

    # execution
    checks = {c.name: c for c in run_checks()}

    # validating: warnings, not failures; each names the key and who resolves
    approvals = checks["approvals"]
    assert approvals.ok
    assert approvals.warn
    assert (
        "workspaces.production.roles.admin: approvals.required is 4 but only 3 approver(s) "
        "resolve (<@U0BOB>, <@U0CAROL>, <@U0ERIN>): every request will be refused"
    ) in approvals.detail
    assert (
        "templates.prod-cluster: approvals.required is 3 but production has 2 owner(s) "
        "(<@U0CAROL>, <@U0ERIN>): no request is approved before it escalates"
    ) in approvals.detail
    assert "roles.view" not in approvals.detail


def test_policy_warnings_are_doctor_warnings(
    env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: production escalates after 9h, but its requests time out after 8h
    migrate.upgrade(env[0])
    policy = yaml.safe_load((ROOT / "examples" / "policy.yaml").read_text(encoding="utf-8"))
    production = policy["workspaces"]["production"]
    production["pending_timeout"] = "8h"
    production["approvals"]["escalate_after"] = "9h"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy), encoding="utf-8")
    shutil.copytree(ROOT / "examples" / "templates", tmp_path / "templates")
    monkeypatch.setenv("ENVBOT_POLICY_FILE", str(path))

    # execution
    checks = {c.name: c for c in run_checks()}

    # validating: valid, with the warning `envbot policy check` gives
    assert checks["policy"].ok
    assert checks["policy"].warn
    assert "workspaces.production.approvals.escalate_after: 9h is not before" in (
        checks["policy"].detail
    )
