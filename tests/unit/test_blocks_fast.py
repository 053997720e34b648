"""The fast Block Kit paths write exactly what slack_sdk's models build: `text_message` (a dict
written directly) and `block_json` (what `to_dict()` returns), on every card and message, with
Slack's limits still enforced."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot.access import render as render_access
from bot.domain.states import AccessState, EnvState
from bot.environments import render
from bot.lifecycle.render import reminder_message
from bot.slack import blocks
from bot.slack.blocks import (
    SECTION_LIMIT,
    ActionId,
    Message,
    actions,
    button,
    lines_message,
    message,
    section,
    text_message,
)
from tests.unit.test_blocks_snapshots import NOW, _env, _req

TEXTS = [
    "Expired after 3d: deleting",
    "`sandbox-alice` reached its expiry and is being deleted, with everything in it.",
    "line one\n*bold* _it_ <@U0ALICE> é ✓",
    "x" * (SECTION_LIMIT - 1),
    "x" * SECTION_LIMIT,
    "x" * (SECTION_LIMIT + 1),
    "y" * 10_000,
    "",
]


@pytest.mark.parametrize("text", TEXTS, ids=lambda t: f"{len(t)} characters")
def test_text_message_is_what_the_models_build(text: str) -> None:
    # setup: the message as slack_sdk's models build and validate it
    expected = message(text, [section(text)])

    # execution
    got = text_message(text)

    # validating: the same JSON, byte for byte (keys and their order), cut at Slack's limit
    assert json.dumps(got) == json.dumps(expected)
    for block in got.get("blocks", []):
        assert len(block["text"].get("text", "")) <= SECTION_LIMIT


def _messages() -> list[Callable[[], Message]]:
    """Every card state, the reminder with its confirmed button, the delete confirmation, a
    long list split in sections with a footer."""
    env = _env(EnvState.READY)
    env.reason = "r" * 5000
    return [
        *(lambda s=s: render.env_card(_env(s), NOW) for s in EnvState),
        *(lambda s=s: render_access.request_card(_req(s), NOW) for s in AccessState),
        lambda: render.env_card(env, NOW),
        lambda: render.delete_confirm(_env(EnvState.READY)),
        lambda: reminder_message(
            "ends in 1h",
            "env",
            "eabcde",
            "sandbox",
            timedelta(days=1),
            ("Delete now", ActionId.DELETE_NOW),
        ),
        lambda: lines_message("Environments", [f"`env-{i}` " + "x" * 90 for i in range(80)], "f"),
    ]


@pytest.mark.parametrize("build", _messages())
def test_block_json_is_what_to_dict_returns(
    build: Callable[[], Message], monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: the message as slack_sdk's own to_dict writes it
    with monkeypatch.context() as m:
        m.setattr(blocks, "block_json", lambda block: block.to_dict())
        expected = build()

    # execution
    got = build()

    # validating: the same JSON, byte for byte
    assert "blocks" in got
    assert json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: actions("x" * 256, [button("Keep", ActionId.KEEP, "v")]),  # block_id > 255
        lambda: actions("a", [button("Keep", ActionId.KEEP, "v", style="loud")]),
        lambda: actions("a", [button("Keep", ActionId.KEEP, "v")] * 26),  # > 25 elements
    ],
)
def test_block_json_still_enforces_slacks_limits(bad: Callable[[], Block]) -> None:
    # setup: a block slack_sdk refuses
    block = bad()
    with pytest.raises(SlackObjectFormationError):
        block.to_dict()

    # execution / validating: refused on the fast path too
    with pytest.raises(SlackObjectFormationError):
        message("x", [block])
