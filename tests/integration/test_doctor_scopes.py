"""`envbot doctor` names the bot scopes of manifest.yaml that the token lacks, from the
`x-oauth-scopes` header of auth.test as Slack sends it (the fake Slack sends it as well)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_scopes import MANIFEST_SCOPES
from bot.doctor import _slack_scopes
from bot.settings import load_settings
from bot.slack.scopes import SCOPE_USES, scopes_in

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        monkeypatch.setenv("ENVBOT_SLACK__BOT_TOKEN", fake.token)
        monkeypatch.setenv("ENVBOT_SLACK__SIGNING_SECRET", "s")
        monkeypatch.setenv("ENVBOT_SLACK__API_URL", fake.api_url)
        yield fake


def test_every_scope_envbot_uses_is_in_the_manifest_and_described() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))
    assert set(SCOPE_USES) == set(manifest["oauth_config"]["scopes"]["bot"]) == MANIFEST_SCOPES


def test_a_token_with_every_scope_passes(slack: FakeSlack) -> None:
    check = _slack_scopes(load_settings())
    assert (check.ok, check.warn) == (True, False)
    assert check.detail == f"the token has all {len(MANIFEST_SCOPES)} scopes envbot uses"


def test_names_each_missing_scope_and_what_breaks(slack: FakeSlack) -> None:
    # setup: installed before the crash-safe posting scopes were added
    slack.set_scopes(MANIFEST_SCOPES - {"channels:history", "im:history", "groups:read"})

    # execution
    check = _slack_scopes(load_settings())

    # validating
    assert not check.ok
    assert "channels:history (without it: crash-safe posting" in check.detail
    assert "im:history (without it: crash-safe posting" in check.detail
    assert "groups:read (without it: the card fallback" in check.detail
    assert "chat:write" not in check.detail
    assert check.detail.endswith("and reinstall the app")


def test_the_header_is_read_in_any_letter_case() -> None:
    assert scopes_in({"x-oauth-scopes": "chat:write, commands"}) == frozenset(
        {"chat:write", "commands"}
    )
    assert scopes_in({"X-OAuth-Scopes": ["im:write"]}) == frozenset({"im:write"})
    assert scopes_in({"Content-Type": "application/json"}) is None
