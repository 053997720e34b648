"""Slack at the edge: only `bot/slack/`, `handlers/` and the Slack stand-ins in `bot/demo/` import
slack_sdk's Web API client, its errors, Socket Mode or Bolt.

import-linter forbids `slack_bolt` (see pyproject.toml) but cannot forbid a subpackage of an
external package, so this test reads every module's imports itself. Block Kit classes
(`slack_sdk.models`) stay allowed everywhere: builders are pure functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "provisioning")
ALLOWED = ("bot/slack/", "bot/demo/", "handlers/")


def slack_imports(source: str) -> list[str]:
    """The Slack modules (or names) `source` imports that only the edge may import."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _edge_only(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module == "slack_sdk":
            names = (f"slack_sdk.{a.name}" for a in node.names)
            found += [n for n in names if _edge_only(n)]
        elif isinstance(node, ast.ImportFrom) and node.module and _edge_only(node.module):
            found.append(node.module)
    return found


def _edge_only(module: str) -> bool:
    top, _, rest = module.partition(".")
    if top == "slack_bolt":
        return True
    return top == "slack_sdk" and not (rest == "models" or rest.startswith("models."))


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from slack_sdk import WebClient", ["slack_sdk.WebClient"]),
        ("from slack_sdk.errors import SlackApiError", ["slack_sdk.errors"]),
        ("import slack_sdk.web.client", ["slack_sdk.web.client"]),
        ("import slack_sdk", ["slack_sdk"]),
        ("from slack_sdk.socket_mode import SocketModeClient", ["slack_sdk.socket_mode"]),
        ("from slack_bolt import App", ["slack_bolt"]),
        (
            "def f():\n    from slack_bolt.adapter.wsgi import SlackRequestHandler",
            ["slack_bolt.adapter.wsgi"],
        ),
        ("from slack_sdk.models.blocks import SectionBlock", []),
        ("from slack_sdk import models", []),
        ("from bot.slack.client import WebClient", []),
    ],
)
def test_the_check_sees_every_form_of_import(source: str, found: list[str]) -> None:
    assert slack_imports(source) == found


def test_only_the_edge_imports_the_web_api_client_or_bolt() -> None:
    # setup
    modules = _modules()
    assert len(modules) > 50, "the walk found the source tree"

    # execution
    offenders = {
        str(path.relative_to(ROOT)): names
        for path in modules
        if not str(path.relative_to(ROOT)).startswith(ALLOWED)
        and (names := slack_imports(path.read_text(encoding="utf-8")))
    }

    # validating
    assert offenders == {}
