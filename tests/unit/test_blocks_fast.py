"""`text_message` writes its dict directly: it must be exactly what slack_sdk's models build."""

from __future__ import annotations

import json

import pytest

from bot.slack.blocks import SECTION_LIMIT, message, section, text_message

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
