"""`envbot doctor`'s approval thresholds against the approvers who resolve (no Slack here)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

import yaml

from bot.lifecycle.thresholds import threshold_warnings
from bot.policy import Policy, load_policy
from tests.fakes.static_directory import StaticDirectory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Directory(StaticDirectory):
    """The demo's groups: production-owners carol and erin, platform-leads and sandbox bob."""

    groups: ClassVar[dict[str, set[str]]] = {
        "production-owners": {"U0CAROL", "U0ERIN"},
        "platform-leads": {"U0BOB"},
        "sandbox-owners": {"U0BOB"},
        "platform": {"U0BOB", "U0CAROL", "U0DAVE"},
    }


def _policy(tmp_path: Path, admin_required: int) -> Policy:
    data = yaml.safe_load((EXAMPLES / "policy.yaml").read_text(encoding="utf-8"))
    data["workspaces"]["production"]["roles"]["admin"]["approvals"] = {"required": admin_required}
    shutil.copytree(EXAMPLES / "templates", tmp_path / "templates")
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_policy(path)


def test_a_threshold_equal_to_the_approvers_refuses_their_own_requests(tmp_path: Path) -> None:
    # carol, erin and (escalated) bob resolve: 3 of 3 can never pass a request by carol
    lines = threshold_warnings(_policy(tmp_path, 3), Directory())

    admin = [line for line in lines if line.startswith("workspaces.production.roles.admin:")]
    assert len(admin) == 2  # also: no request is approved before it escalates
    assert admin[1] == (
        "workspaces.production.roles.admin: approvals.required is 3 and exactly 3 approver(s) "
        "resolve (<@U0BOB>, <@U0CAROL>, <@U0ERIN>): a request by one of them will be refused "
        "(the requester never counts); add owners or escalate_to members, or lower it"
    )


def test_the_example_policy_has_no_threshold_warning(tmp_path: Path) -> None:
    assert threshold_warnings(_policy(tmp_path, 2), Directory()) == []
