"""The approval policy keys: thresholds inherited and overridden, `during` windows, break-glass
and escalation cross-checks, each with its exact message."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.policy import Principal, PrincipalKind, load_policy
from bot.policy.approvals import Approvals, ApprovalsOverride, effective, to_window
from tests.unit.test_policy import base, problems, write


def production(data: dict[str, Any]) -> dict[str, Any]:
    ws = data["workspaces"]["sandbox"]
    ws["approvals"] = {
        "required": 2,
        "notify": "both",
        "escalate_after": "30m",
        "escalate_to": ["@platform-leads"],
    }
    ws["roles"]["view"] = {
        "workspace_role": "workspace-view",
        "kommander_role": "kommander-workspace-view",
        "max": "1d",
        "extend_step": "4h",
        "approvals": {"required": 1},
        "auto_approve": {
            "name": "view-hours",
            "members_of": ["@engineering"],
            "during": "mon-fri 08:00-18:00",
        },
    }
    ws["break_glass"] = {
        "allowed": ["@oncall"],
        "roles": ["admin"],
        "max": "1h",
        "review_within": "24h",
    }
    return data


def test_role_overrides_only_the_keys_it_sets(tmp_path):
    policy = load_policy(write(tmp_path, production(base())))
    ws = policy.workspace("sandbox")
    view, admin = ws.role_approvals("view"), ws.role_approvals("admin")
    assert (admin.required, admin.notify, str(admin.escalate_to[0])) == (
        2,
        "both",
        "@platform-leads",
    )
    assert (view.required, view.notify, view.escalate_after) == (1, "both", admin.escalate_after)
    rule = ws.roles["view"].auto_approve
    assert rule is not None
    assert (rule.name, str(rule.during)) == ("view-hours", "mon-fri 08:00-18:00")
    assert ws.break_glass is not None
    assert ws.break_glass.roles == ("admin",)


def test_defaults_are_one_approver_in_the_channel(tmp_path):
    ws = load_policy(write(tmp_path, base())).workspace("sandbox")
    settings = ws.role_approvals("admin")
    assert (settings.required, settings.notify, settings.escalate_after) == (1, "channel", None)
    assert ws.break_glass is None
    assert ws.roles["admin"].auto_approve is None


@pytest.mark.parametrize(
    ("text", "moment", "inside"),
    [
        ("mon-fri 08:00-18:00", datetime(2026, 11, 30, 8, 0, tzinfo=UTC), True),  # a Monday
        ("mon-fri 08:00-18:00", datetime(2026, 11, 30, 18, 0, tzinfo=UTC), False),
        ("mon-fri 08:00-18:00", datetime(2026, 12, 5, 9, 0, tzinfo=UTC), False),  # a Saturday
        ("sat,sun 10:00-14:00", datetime(2026, 12, 6, 13, 59, tzinfo=UTC), True),
        ("fri-mon 00:00-24:00", datetime(2026, 12, 7, 23, 59, tzinfo=UTC), True),  # wraps the week
        ("fri-mon 00:00-24:00", datetime(2026, 12, 8, 0, 0, tzinfo=UTC), False),
        ("daily 00:00-24:00", datetime(2026, 12, 9, 12, 0, tzinfo=UTC), True),
    ],
)
def test_windows_read_days_and_hours(text, moment, inside):
    assert to_window(text).contains(moment) is inside


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("weekdays 8-18", "is not a time window: write days, a space, then HH:MM-HH:MM"),
        ("mon-fri 18:00-08:00", "must end after it starts on the same day"),
        ("mon-frx 08:00-18:00", '"mon-frx" is not a day or a range of days'),
        ("mon 08:00-25:00", "25:00 is not a time of day"),
        (42, "42 is not a time window"),
    ],
)
def test_malformed_window_is_a_policy_error_with_an_example(tmp_path, value, expected):
    data = production(base())
    data["workspaces"]["sandbox"]["roles"]["view"]["auto_approve"]["during"] = value
    found = problems(tmp_path, data)
    assert len(found) == 1
    assert "roles.view.auto_approve.during" in found[0]
    assert expected in found[0]
    assert 'e.g. "mon-fri 08:00-18:00"' in found[0]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda ws: ws["break_glass"].update(roles=["root"]),
            "workspaces.sandbox.break_glass.roles: "
            'unknown role "root" (expected one of: admin, view)',
        ),
        (
            lambda ws: ws["break_glass"].update(max="12h"),
            "workspaces.sandbox.break_glass.max: 12h is longer than role admin's max 8h",
        ),
        (
            lambda ws: ws["approvals"].pop("escalate_to"),
            "workspaces.sandbox.approvals.escalate_after: needs escalate_to",
        ),
        (
            lambda ws: ws["break_glass"].update(allowed=[]),
            "workspaces.sandbox.break_glass.allowed",
        ),
        (
            lambda ws: ws["approvals"].update(required=0),
            "workspaces.sandbox.approvals.required",
        ),
        (
            lambda ws: ws["approvals"].update(notify="email"),
            "workspaces.sandbox.approvals.notify",
        ),
    ],
)
def test_bad_approval_keys_name_the_key_path(tmp_path, mutate, expected):
    data = production(base())
    mutate(data["workspaces"]["sandbox"])
    found = problems(tmp_path, data)
    assert any(expected in line for line in found), found


def test_template_approvals_need_approval_true(tmp_path):
    data = base()
    name, template = next(iter(data["templates"].items()))
    template["approvals"] = {"required": 2}
    template.pop("approval", None)
    found = problems(tmp_path, data)
    assert any(
        f"templates.{name}.approvals: has no effect without approval: true" in line
        for line in found
    ), found
    template["approval"] = True
    policy = load_policy(write(tmp_path, data, "ok.yaml"))
    assert policy.template_approvals(name).required == 2


def test_auto_approve_is_for_roles_only(tmp_path):
    data = base()
    name, template = next(iter(data["templates"].items()))
    template["auto_approve"] = {"members_of": ["@engineering"]}
    found = problems(tmp_path, data)
    assert any(f"templates.{name}.auto_approve" in line for line in found), found


def test_rule_names_default_from_the_role(tmp_path):
    data = production(base())
    rule = data["workspaces"]["sandbox"]["roles"]["view"]["auto_approve"]
    rule.pop("name")
    policy = load_policy(write(tmp_path, data))
    loaded = policy.workspace("sandbox").roles["view"].auto_approve
    assert loaded is not None
    assert loaded.rule_name("view") == "view-hours"
    assert loaded.model_copy(update={"during": None}).rule_name("view") == "view-members"


def test_a_role_override_of_escalate_to_keeps_its_principals() -> None:
    # model_dump turned them into dicts: every lookup of the group then failed
    override = ApprovalsOverride.model_validate({"escalate_to": ["@platform-leads"], "required": 2})
    got = effective(Approvals(notify="dm"), override)

    assert got.escalate_to == (Principal(kind=PrincipalKind.GROUP, value="platform-leads"),)
    assert (got.required, got.notify) == (2, "dm")
