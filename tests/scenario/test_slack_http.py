"""Slash commands over signed HTTP: help, routing, user errors, signatures, health endpoints."""

from __future__ import annotations

import time

import pytest
import requests

from bot.demo.signing import sign
from bot.server import HttpServer
from tests.scenario.conftest import SECRET, SlackClient, wait_for


def test_env_help_lists_commands(slack_http: SlackClient) -> None:
    # execution
    text = slack_http.ask("alice", "/env", "help")

    # validating
    for usage in ("/env create <template>", "/env transfer <name> @user", "/env delete"):
        assert usage in text


def test_access_help_lists_commands(slack_http: SlackClient) -> None:
    # execution
    text = slack_http.ask("alice", "/access", "help")

    # validating
    assert "/access" in text
    assert "/access help" in text or "/access request" in text


def test_env_templates_lists_what_alice_may_create(slack_http: SlackClient) -> None:
    # execution
    text = slack_http.ask("alice", "/env", "templates")

    # validating
    assert "sandbox" in text
    assert "dev" in text
    assert "no approval needed" in text


def test_unknown_verb_names_it_and_lists_verbs(slack_http: SlackClient) -> None:
    # execution
    text = slack_http.ask("alice", "/env", "frobnicate")

    # validating
    assert 'unknown command "frobnicate"' in text
    assert "create" in text


def test_access_list_with_nothing_open_says_so(slack_http: SlackClient) -> None:
    # execution
    text = slack_http.ask("alice", "/access", "list")

    # validating
    assert "No open requests or grants" in text
    assert "/access request" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("create nosuchtemplate", 'unknown template "nosuchtemplate"'),
        ("create sandbox --ttl 9x", '"9x" is not a duration'),
        ("create sandbox --ttl 30d", "maximum of 14d"),
        ("create sandbox Bad_Name", '"Bad_Name" is not a valid name'),
        ("create sandbox --colour red", 'unknown option "--colour"'),
        ('create sandbox x --reason "unterminated', "check the quotes"),
    ],
    ids=["template", "ttl", "ttl-max", "name", "option", "quotes"],
)
def test_user_errors_are_answered_ephemerally(
    slack_http: SlackClient, text: str, expected: str
) -> None:
    # setup
    cursor = slack_http.mark()

    # execution
    answer = slack_http.ask("alice", "/env", text)

    # validating
    assert expected in answer
    assert "Something went wrong" not in answer
    found, _ = slack_http.slack.deliveries_since(cursor)
    assert all(d.kind == "ephemeral" for d in found), [d.where for d in found]


def test_bad_signature_is_rejected(slack_http: SlackClient) -> None:
    # setup
    body = slack_http.slash_body("alice", "/env", "help")
    headers = sign("not-the-secret", body)

    # execution
    resp = slack_http.post(body, headers)

    # validating
    assert resp.status_code == 401
    assert slack_http.slack.calls_to("response_url") == []


def test_stale_timestamp_is_rejected(slack_http: SlackClient) -> None:
    # setup
    body = slack_http.slash_body("alice", "/env", "help")
    headers = sign(SECRET, body, timestamp=int(time.time()) - 6 * 60)

    # execution
    resp = slack_http.post(body, headers)

    # validating
    assert resp.status_code == 401


def test_missing_signature_is_rejected(slack_http: SlackClient) -> None:
    # setup
    body = slack_http.slash_body("alice", "/env", "help")

    # execution
    resp = slack_http.post(body, {"Content-Type": "application/x-www-form-urlencoded"})

    # validating
    assert resp.status_code == 401


@pytest.mark.parametrize(("path", "body"), [("/healthz", "ok"), ("/readyz", "ready")])
def test_health_endpoints(server: HttpServer, path: str, body: str) -> None:
    # execution
    resp = requests.get(f"{server.url}{path}", timeout=10)

    # validating
    assert resp.status_code == 200
    assert resp.text == body


def test_metrics_are_prometheus_text(server: HttpServer) -> None:
    # execution
    resp = requests.get(f"{server.url}/metrics", timeout=10)

    # validating
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert "# TYPE " in resp.text


def test_unknown_path_is_404(server: HttpServer) -> None:
    # execution
    resp = requests.get(f"{server.url}/nope", timeout=10)

    # validating
    assert resp.status_code == 404


def test_a_parse_error_is_answered_in_the_ack_body(slack_http: SlackClient) -> None:
    # execution: no network and no write needed to answer this
    resp = slack_http.command("alice", "/env", "frobnicate everything")

    # validating: the answer rides in the ack (Slack shows it); nothing was recorded or queued
    assert resp.status_code == 200
    assert "frobnicate" in resp.json()["text"]
    assert resp.json()["response_type"] == "ephemeral"
    assert slack_http.slack.calls_to("response_url") == []


def test_a_command_is_acked_empty_then_answered_at_its_response_url(
    slack_http: SlackClient,
) -> None:
    # execution
    resp = slack_http.command("alice", "/env", "create sandbox acked")

    # validating: the ack is an empty 200 (the listener recorded the command and handed it
    # on); the answer comes through the outbox to the response_url, once
    assert resp.status_code == 200
    assert resp.text == ""
    answered = wait_for(
        lambda: [c for c in slack_http.slack.calls_to("response_url") if "`acked`" in str(c)],
        what="the create answer",
    )
    assert len(answered) == 1
