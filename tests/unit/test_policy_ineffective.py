"""`policy check` warnings: keys that are valid but change nothing, each with its key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.policy.ineffective import check_policy_warnings, ineffective_keys
from tests.unit.test_policy import BASE, EXAMPLE


def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def test_the_example_and_the_base_have_no_ineffective_keys():
    # execution
    example = ineffective_keys(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))

    # validating
    assert example == []
    assert ineffective_keys(base()) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["reminders"].update(
                before=[], quiet_hours={"start": "20:00", "end": "8:00"}
            ),
            ("reminders.quiet_hours", "reminders.before is empty, so no reminder is ever sent"),
        ),
        (
            lambda d: d.update(dns={"zones": [], "txt_owner_id": "kommander"}),
            ("dns.txt_owner_id", "dns.zones is empty, so no record is looked at"),
        ),
        (
            lambda d: d["workspaces"]["team-a"].update(
                aws={"role_arn": "arn:aws:iam::123456789012:role/envbot", "region": "us-west-2"}
            ),
            (
                "workspaces.team-a.aws",
                "it is used for cloud cleanup after a cluster, and no kind cluster template uses "
                "this workspace",
            ),
        ),
        (
            lambda d: d["workspaces"]["team-a"].update(roles={}, pending_timeout="8h"),
            (
                "workspaces.team-a.pending_timeout",
                "nothing here waits for approval (no roles, no template with approval)",
            ),
        ),
        (
            lambda d: d["clusters"].update(
                spare={"context": "spare", "api_server": "https://x.io"}
            ),
            (
                "clusters.spare",
                "no namespace template (cluster.ref) or rbac workspace (cluster) names it",
            ),
        ),
        (
            lambda d: (
                d["templates"].pop("sandbox"),
                d["cleanup"].update(delete=["ec2:volume"]),
            ),
            ("cleanup.delete", "no template makes clusters, so there is never a cloud cleanup"),
        ),
        (
            lambda d: (
                d["workspaces"]["sandbox"].update(access_backend="rbac", cluster="shared-dev"),
                d["management"].update(global_view={}),
            ),
            (
                "management.global_view",
                "it is added to kommander grants, and no workspace uses access_backend kommander",
            ),
        ),
    ],
)
def test_each_ineffective_key_is_named_with_why(mutate, expected):
    # setup
    data = base()
    data.setdefault("reminders", {})
    mutate(data)

    # execution
    found = ineffective_keys(data)

    # validating
    key, why = expected
    assert (key, f"has no effect: {why}") in found
    assert [k for k, _ in found].count(key) == 1


def test_warnings_name_the_file_and_skip_unreadable_files(tmp_path: Path):
    # setup
    good = tmp_path / "policy.yaml"
    data = base()
    data["reminders"] = {"before": [], "quiet_hours": {"start": "20:00", "end": "08:00"}}
    good.write_text(yaml.safe_dump(data), encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [", encoding="utf-8")

    # execution / validating
    assert check_policy_warnings(good) == [
        "policy.yaml: reminders.quiet_hours: has no effect: reminders.before is empty, so no "
        "reminder is ever sent"
    ]
    assert check_policy_warnings(broken) == []
    assert check_policy_warnings(tmp_path / "missing.yaml") == []
