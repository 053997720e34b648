"""`policy check` warns when escalation comes too late to happen: `escalate_after` not before
the workspace's `pending_timeout` (the request times out first), naming both keys."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from bot.cli import cmd_policy_check
from bot.policy import load_policy, policy_warnings
from tests.unit.test_policy import EXAMPLE, base, write


def escalating(after: str, timeout: str = "8h") -> dict[str, Any]:
    data = base()
    ws = data["workspaces"]["sandbox"]
    ws["pending_timeout"] = timeout
    ws["approvals"] = {"escalate_after": after, "escalate_to": ["@platform-leads"]}
    return data


def timing(data: dict[str, Any], tmp_path: Any) -> list[str]:
    found = policy_warnings(load_policy(write(tmp_path, data)))
    return [w for w in found if "escalate" in w]


def test_escalate_after_past_the_pending_timeout_is_a_warning_naming_both_keys(tmp_path):
    # execution
    found = timing(escalating("9h"), tmp_path)

    # validating: valid (a warning, not an error), saying what to change
    assert found == [
        "policy.yaml: workspaces.sandbox.approvals.escalate_after: 9h is not before "
        "workspaces.sandbox.pending_timeout (8h), so a request times out before it can ever "
        "escalate; set escalate_after below 8h (or raise pending_timeout)"
    ]


@pytest.mark.parametrize(("after", "warned"), [("8h", True), ("7h", False), ("30m", False)])
def test_only_an_escalation_at_or_after_the_timeout_is_warned_about(tmp_path, after, warned):
    assert bool(timing(escalating(after), tmp_path)) is warned


def test_a_role_or_template_that_sets_a_late_escalation_is_named(tmp_path):
    # setup: the workspace escalates in time; a role and an approval template change it
    data = escalating("30m")
    data["workspaces"]["sandbox"]["roles"]["admin"]["approvals"] = {"escalate_after": "1d"}
    data["templates"]["dev"].update(approval=True, approvals={"escalate_after": "10h"})

    # execution
    found = timing(data, tmp_path)

    # validating
    assert [w.split(": ")[1] for w in found] == [
        "workspaces.sandbox.roles.admin.approvals.escalate_after",
        "templates.dev.approvals.escalate_after",
    ]
    assert "1d is not before workspaces.sandbox.pending_timeout (8h)" in found[0]
    assert "10h is not before workspaces.sandbox.pending_timeout (8h)" in found[1]


def test_no_escalation_to_anyone_is_not_this_warning(tmp_path):
    data = base()
    data["workspaces"]["sandbox"].update(pending_timeout="8h")
    assert timing(data, tmp_path) == []
    assert [w for w in policy_warnings(load_policy(EXAMPLE)) if "escalate" in w] == []


def test_policy_check_prints_it_as_a_warning_and_exits_0(tmp_path, capsys):
    # execution
    code = cmd_policy_check(argparse.Namespace(file=str(write(tmp_path, escalating("9h")))))

    # validating
    err = capsys.readouterr().err
    assert code == 0
    assert "warning: policy.yaml: workspaces.sandbox.approvals.escalate_after: 9h" in err
