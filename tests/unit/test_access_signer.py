"""/access request and /access break-glass refuse a requester whose Slack profile has no email."""

from __future__ import annotations

import pytest

from bot.access.workflow import signer
from bot.errors import UserError
from bot.slack.ports import UserInfo
from tests.fakes.static_directory import StaticDirectory


class NoEmail(StaticDirectory):
    def user(self, user_id: str) -> UserInfo:
        return UserInfo(id=user_id, name=user_id.lower(), email="")


def test_a_requester_without_email_is_told_whom_to_ask():
    with pytest.raises(UserError, match=r"your Slack profile has no email.*ask a Slack admin"):
        signer(NoEmail(), "U0ALICE")
    assert signer(StaticDirectory(), "U0ALICE").email == "u0alice@example.com"
