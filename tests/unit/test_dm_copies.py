"""A DM copy of an approval card is the card rendered for its recipient: only the buttons they
may press (Approve once, Deny while eligible; never Cancel), an empty actions row dropped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.lifecycle.approval_view import ApprovalState
from bot.lifecycle.dm_copies import for_viewer
from bot.lifecycle.render import decision_actions
from bot.slack.blocks import message, section

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CARD = message("Access request r1: admin in production (pending)", [
    section("*Access request r1*"),
    decision_actions("request_actions", "access:r1"),
])  # fmt: skip


def _raw(
    votes: tuple[str, ...] = (), eligible: tuple[str, ...] = ("UCAROL", "UERIN")
) -> dict[str, Any]:
    voted = tuple((u, AT) for u in votes)
    return ApprovalState(2, voted, frozenset(eligible), None, "", False).to_json()


def _pressable(card: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_an_eligible_approver_sees_approve_and_deny_never_cancel():
    assert _pressable(for_viewer(CARD, _raw(), "UERIN")) == ["approve", "deny"]


def test_who_approved_sees_only_deny():
    assert _pressable(for_viewer(CARD, _raw(votes=("UCAROL",)), "UCAROL")) == ["deny"]


def test_who_is_no_longer_eligible_sees_no_buttons_and_no_empty_row():
    copy = for_viewer(CARD, _raw(eligible=("UERIN",)), "UCAROL")
    assert [b["type"] for b in copy["blocks"]] == ["section"]
    assert copy["text"] == CARD["text"]


def test_the_card_itself_is_left_as_it_was():
    for_viewer(CARD, _raw(), "UERIN")
    assert _pressable(CARD) == ["approve", "deny", "cancel"]
