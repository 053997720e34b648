"""Pure pieces of "reminders that matter, buttons that act once": which thresholds are armed,
the confirm every destructive button needs, and the message a pressed one-shot DM becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.demo.fake_slack_blocks import validate_message_blocks
from bot.lifecycle.armed import armed_thresholds
from bot.lifecycle.render import reminder_message
from bot.slack.acted import acted_message, already_done, slack_time
from bot.slack.blocks import ActionId, button, confirm_dialog, message

H = timedelta(hours=1)
THRESHOLDS = [H, 24 * H]
EXPIRES = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lifetime", "armed"),
    [
        (2 * H, [H]),  # a 2h grant: no "ends in 24h"
        (24 * H, [H]),  # exactly 24h left: the 24h one would fire at once
        (25 * H, [H, 24 * H]),
        (H, []),  # extended to 1h left: nothing fires right after
        (None, [H, 24 * H]),  # no start in the trail: every threshold, as before
    ],
)
def test_only_thresholds_below_the_lifetime_are_armed(
    lifetime: timedelta | None, armed: list[timedelta]
) -> None:
    since = None if lifetime is None else EXPIRES - lifetime
    assert armed_thresholds(THRESHOLDS, EXPIRES, since) == armed


@pytest.mark.parametrize("action", [ActionId.DELETE_NOW, ActionId.REVOKE_NOW])
def test_a_destructive_button_needs_a_confirm(action: ActionId) -> None:
    with pytest.raises(ValueError, match="needs a confirm dialog"):
        button("End now", action, "env:e1", style="danger")


def test_confirm_dialogs_fit_slacks_limits() -> None:
    dialog = confirm_dialog("T" * 200, "x" * 400, "C" * 40, "D" * 40)
    msg = message("m", [])
    msg["blocks"] = [
        {
            "type": "actions",
            "elements": [
                button("Delete now", ActionId.DELETE_NOW, "env:e1", confirm=dialog).to_dict()
            ],
        }
    ]
    assert validate_message_blocks(msg["blocks"]) == []


def test_reminder_buttons_are_valid_and_confirm_the_end() -> None:
    msg = reminder_message(
        "ends in 1h", "access", "r1", "r1", H, ("Revoke now", ActionId.REVOKE_NOW)
    )
    assert validate_message_blocks(msg["blocks"]) == []
    (row,) = [b for b in msg["blocks"] if b["type"] == "actions"]
    revoke = row["elements"][1]
    assert revoke["confirm"]["title"]["text"] == "Revoke now?"
    assert revoke["confirm"]["confirm"]["text"] == "Revoke"


def test_a_pressed_message_keeps_its_words_and_loses_its_buttons() -> None:
    shown = reminder_message(
        "ends in 1h, at Mon 05 Jan 11:00",
        "access",
        "r1",
        "r1",
        H,
        ("Revoke now", ActionId.REVOKE_NOW),
    )["blocks"]
    at = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

    acted = acted_message(shown, {"text": "Kept as is."}, "U0ALICE", at)

    assert acted["replace_original"] is True
    assert [b["type"] for b in acted["blocks"]] == ["section", "context"]
    assert acted["blocks"][0] == shown[0]
    line = acted["blocks"][1]["elements"][0]["text"]
    assert line == f"Kept as is. (<@U0ALICE>, {slack_time(at)})"
    assert "Mon 05 Jan 11:00" in acted["text"]
    assert validate_message_blocks(acted["blocks"]) == []


def test_an_ephemeral_message_becomes_the_answer() -> None:
    at = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    acted = acted_message(None, {"text": "Deleting `x`."}, "U0ALICE", at)
    assert [b["type"] for b in acted["blocks"]] == ["context"]
    assert acted["text"].startswith("Deleting `x`. (<@U0ALICE>, <!date^1767607200^")


def test_already_done_names_who_when_and_which_button() -> None:
    at = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    text = already_done("extend", "U0ALICE", at)["text"]
    assert text.startswith(
        "Already done by <@U0ALICE> at <!date^1767607200^{date_short_pretty} at {time}"
        "|2026-01-05 10:00 UTC> (Extend)"
    )
