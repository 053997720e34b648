"""The `envbot` console script: migrate on the test database and `policy check` exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from bot.db.models import Base
from bot.db.session import make_engine

ROOT = Path(__file__).resolve().parents[2]
ENVBOT = [sys.executable, "-m", "bot.cli"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENVBOT, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_migrate_creates_every_table(fresh_database_url: str) -> None:
    # execution: through the env var, as operators run it
    result = _run("migrate", env={"ENVBOT_DATABASE_URL": fresh_database_url})
    # validating
    assert result.returncode == 0, result.stderr
    engine = make_engine(fresh_database_url)
    try:
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    down = _run("migrate", "--downgrade", "base", "--database-url", fresh_database_url)
    assert down.returncode == 0, down.stderr


def test_policy_check_accepts_the_example() -> None:
    result = _run("policy", "check", "examples/policy.yaml")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    assert result.stderr == ""  # no warnings either


def test_policy_check_warns_about_a_topology_without_tags_but_passes(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "management: {host: management.example.com}\n"
        "workspaces:\n"
        "  sandbox: {owners: ['@sandbox-owners'], approvals_channel: '#a', namespace: sandbox,\n"
        "            aws: {role_arn: 'arn:aws:iam::123456789012:role/envbot', region: us-west-2}}\n"
        "templates:\n"
        "  sandbox:\n"
        "    workspace: sandbox\n"
        "    kind: cluster\n"
        "    ttl: {default: 3d, max: 9d, extend_step: 1d}\n"
        "    cluster: {topology: {class: aws, version: v1.30.5}}\n"
    )
    result = _run("policy", "check", str(policy))
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(
        "warning: policy.yaml: templates.sandbox.cluster.topology.tags_variable: not set"
    )


def test_policy_check_lists_every_error_with_its_key_path(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        "management: {host: management.example.com}\n"
        "workspaces:\n"
        "  sandbox: {owners: ['@sandbox-owners'], approvals_channel: '#a', namespace: sandbox}\n"
        "templates:\n"
        "  sandbox:\n"
        "    workspace: nope\n"
        "    kind: cluster\n"
        "    ttl: {default: 3d, max: 9x, extend_step: 1d}\n"
        "    cluster: {class: aws, version: v1.30.5}\n"
    )
    result = _run("policy", "check", str(bad))
    assert "templates.sandbox.cluster: class and version now go under topology" in result.stderr
    assert result.returncode == 1
    assert (
        'policy.yaml: templates.sandbox.ttl.max: "9x" is not a duration (use 30m, 4h, 3d or 1w)'
        in result.stderr
    )
    assert 'policy.yaml: templates.sandbox.workspace: unknown workspace "nope"' in result.stderr


def test_policy_check_warns_about_keys_without_effect_and_exits_0(tmp_path: Path) -> None:
    # setup: valid, but quiet hours with no reminders and a cluster nothing uses
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "management: {host: management.example.com}\n"
        "clusters: {spare: {context: spare, api_server: 'https://spare.example.com'}}\n"
        "workspaces:\n"
        "  sandbox: {owners: ['@sandbox-owners'], approvals_channel: '#a', namespace: sandbox}\n"
        "reminders: {before: [], quiet_hours: {start: '20:00', end: '08:00'}}\n"
    )

    # execution
    result = _run("policy", "check", str(policy))

    # validating
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: policy.yaml: clusters.spare: has no effect: no namespace template (cluster.ref) "
        "or rbac workspace (cluster) names it",
        "warning: policy.yaml: reminders.quiet_hours: has no effect: reminders.before is empty, "
        "so no reminder is ever sent",
    ]
    assert "ok" in result.stdout
