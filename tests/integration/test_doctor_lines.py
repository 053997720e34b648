"""`envbot doctor` yields each check as it completes, turns whatever a check raises into a line
with what to check, and skips AWS when no workspace uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.db import migrate
from bot.demo.fake_slack import FakeSlack
from bot.doctor import iter_checks, run_checks

ROOT = Path(__file__).resolve().parents[2]
NO_AWS = (
    "management: {host: management.example.com}\n"
    "workspaces:\n"
    "  sandbox: {owners: ['@sandbox-owners'], approvals_channel: '#a', namespace: sandbox,\n"
    "            access_backend: rbac, cluster: spare}\n"
    "clusters: {spare: {context: spare, api_server: 'https://spare.example.com'}}\n"
)


@pytest.fixture
def slack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_database_url: str
) -> Iterator[FakeSlack]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(NO_AWS, encoding="utf-8")
    migrate.upgrade(fresh_database_url)
    # no kubeconfig anywhere, and not in a pod
    for name in (
        "KUBECONFIG",
        "KUBERNETES_SERVICE_HOST",
        "ENVBOT_KUBECONFIG",
        "ENVBOT_KUBE_CONTEXT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with FakeSlack() as fake:
        for key, value in {
            "ENVBOT_SLACK__BOT_TOKEN": fake.token,
            "ENVBOT_SLACK__SIGNING_SECRET": "s",
            "ENVBOT_SLACK__API_URL": fake.api_url,
            "ENVBOT_DATABASE_URL": fresh_database_url,
            "ENVBOT_POLICY_FILE": str(policy),
        }.items():
            monkeypatch.setenv(key, value)
        yield fake


def test_each_check_is_yielded_before_the_next_runs(slack: FakeSlack) -> None:
    checks = iter_checks()
    names = [next(checks).name for _ in range(4)]
    assert names == ["settings", "policy", "database", "ack journal"]
    assert slack.calls_to("auth.test") == []  # the Slack check has not run yet
    assert next(checks).name == "slack"
    assert len(slack.calls_to("auth.test")) == 1


def test_aws_is_skipped_when_no_workspace_uses_it(slack: FakeSlack) -> None:
    aws = {c.name: c for c in run_checks()}["aws"]
    assert aws.ok
    assert aws.detail == "skipped: no workspace uses AWS (no `aws:`, no cleanup.region)"


def test_an_unexpected_error_in_a_check_is_a_line(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a URL without its scheme: urllib raises ValueError, which the Slack check does not expect
    monkeypatch.setenv("ENVBOT_SLACK__API_URL", "slack.com/api/")
    checks = {c.name: c for c in run_checks()}
    assert not checks["slack"].ok
    assert checks["slack"].detail == (
        "ValueError: unknown url type: 'slack.com/api/auth.test'; check ENVBOT_SLACK__API_URL "
        "and the bot token"
    )
    assert checks["database"].ok  # the others still ran
    assert checks["aws"].ok


def test_a_missing_kubeconfig_is_one_fix_not_two(slack: FakeSlack) -> None:
    admission = {c.name: c for c in run_checks()}["admission"]
    assert not admission.ok
    assert admission.detail == (
        "target cluster spare: context 'spare' needs a kubeconfig, and none was found: "
        "ENVBOT_KUBECONFIG is unset and ~/.kube/config is absent; set ENVBOT_KUBECONFIG"
    )
