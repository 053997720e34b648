"""Button values and the press router, on two stand-in workflows (no database, no Slack)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.errors import NotFound
from bot.slack.blocks import ActionId, Message, home_row_block, object_value
from bot.slack.presses import (
    BoundButtons,
    ButtonRefused,
    ButtonRouter,
    ButtonValue,
    Press,
    Target,
    parse_value,
)


def _workflow(kind: str, prefix: str, block: str, ids: set[str], end: ActionId) -> BoundButtons:
    def find(oid: str) -> object:
        if oid not in ids:
            raise NotFound(f'no {kind} "{oid}"')
        return oid

    def pressed(action: ActionId) -> Callable[[Target], Message]:
        def handle(t: Target) -> Message:
            return {"text": f"{kind} {action.value} {t.object_id} by {t.user_id}"}

        return handle

    return BoundButtons(
        kind=kind,
        noun=kind,
        id_prefix=prefix,
        blocks=frozenset({block, "reminder_actions"}),
        find=find,
        presses={a: pressed(a) for a in (ActionId.APPROVE, ActionId.EXTEND, end)},
        deny=lambda oid, user, note: {"text": f"{kind} denied {oid}: {note}"},
    )


ROUTER = ButtonRouter(
    [
        _workflow("env", "e", "env_actions", {"e1"}, ActionId.DELETE_NOW),
        _workflow("access", "r", "request_actions", {"r1"}, ActionId.REVOKE_NOW),
    ]
)


def _press(action: ActionId, block: str, value: str) -> Message:
    return ROUTER.press(Press(action, block, value, "U1", "T1"))


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("env:e7k2qm", ButtonValue("env", "e7k2qm")),
        ("access:r7k2qm", ButtonValue("access", "r7k2qm")),
        ("e7k2qm", ButtonValue(None, "e7k2qm")),
        (" r7k2qm ", ButtonValue(None, "r7k2qm")),
    ],
)
def test_parse_value(raw: str, parsed: ButtonValue) -> None:
    assert parse_value(raw) == parsed


@pytest.mark.parametrize(
    "raw", ["", "  ", "env:", ":e1", "env:e1:e2", "Env:e1", "env:E1", "e" * 81, "e 1", "é1"]
)
def test_malformed_values_are_refused(raw: str) -> None:
    with pytest.raises(ButtonRefused):
        parse_value(raw)


def test_object_value_round_trips() -> None:
    assert parse_value(object_value("env", "e7k2qm")) == ButtonValue("env", "e7k2qm")


@pytest.mark.parametrize(
    ("action", "block", "value", "answer"),
    [
        (ActionId.APPROVE, "env_actions", "env:e1", "env approve e1 by U1"),
        (ActionId.APPROVE, "request_actions", "access:r1", "access approve r1 by U1"),
        # bare ids: the block says the kind, or the id is looked up in each workflow
        (ActionId.APPROVE, "env_actions", "e1", "env approve e1 by U1"),
        (ActionId.EXTEND, "reminder_actions", "r1", "access extend r1 by U1"),
        (ActionId.EXTEND, home_row_block("e1"), "e1", "env extend e1 by U1"),
        (ActionId.REVOKE_NOW, home_row_block("r1"), "access:r1", "access revoke_now r1 by U1"),
    ],
)
def test_presses_reach_their_workflow(
    action: ActionId, block: str, value: str, answer: str
) -> None:
    assert _press(action, block, value) == {"text": answer}


@pytest.mark.parametrize(
    ("action", "block", "value", "refusal"),
    [
        (ActionId.APPROVE, "env_actions", "access:r1", "it sits with env buttons (env_actions)"),
        (ActionId.DELETE_NOW, "request_actions", "access:r1", '"delete_now" is not one of its'),
        (ActionId.APPROVE, "elsewhere", "env:e1", 'envbot posts no buttons in "elsewhere"'),
        (ActionId.APPROVE, "", "env:e1", 'envbot posts no buttons in ""'),
        (ActionId.APPROVE, home_row_block("r1"), "env:e1", "the Home tab row it sits in"),
        (ActionId.APPROVE, home_row_block("r1"), "e1", "the Home tab row it sits in"),
        (ActionId.APPROVE, "env_actions", "x:1", 'unknown kind of object ("x")'),
        (ActionId.APPROVE, "env_actions", "x123", 'names no known request ("x123")'),
    ],
)
def test_presses_that_do_not_fit_are_refused(
    action: ActionId, block: str, value: str, refusal: str
) -> None:
    with pytest.raises(ButtonRefused) as refused:
        _press(action, block, value)
    assert refusal in str(refused.value)
    assert "nothing changed" in str(refused.value)


def test_a_missing_object_is_the_workflows_not_found() -> None:
    with pytest.raises(NotFound, match='no env "e9"'):
        _press(ActionId.APPROVE, "env_actions", "env:e9")
    with pytest.raises(NotFound, match='no env or access with id "e9"'):
        _press(ActionId.EXTEND, "reminder_actions", "e9")


def test_deny_form_reference_routes_by_kind_or_lookup() -> None:
    assert ROUTER.deny("access:r1", "U1", "no") == {"text": "access denied r1: no"}
    assert ROUTER.deny("e1", "U1", "") == {"text": "env denied e1: "}


def test_press_from_body_reads_the_listeners_action() -> None:
    body = {
        "user": {"id": "U1"},
        "trigger_id": "T1",
        "actions": [{"action_id": "approve", "block_id": "env_actions", "value": "env:e1"}],
    }
    assert Press.from_body(ActionId.APPROVE, body) == Press(
        ActionId.APPROVE, "env_actions", "env:e1", "U1", "T1"
    )
    assert Press.from_body(ActionId.DENY, {"user": {"id": "U1"}}) == Press(
        ActionId.DENY, "", "", "U1", ""
    )


def test_every_action_with_a_workflow_gets_a_listener() -> None:
    assert ROUTER.actions == [
        ActionId.APPROVE,
        ActionId.EXTEND,
        ActionId.DELETE_NOW,
        ActionId.REVOKE_NOW,
    ]
