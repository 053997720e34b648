"""The fake Slack Web API, driven by the real slack_sdk WebClient and WebhookClient."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.demo.fake_slack import DEFAULT_TOKEN, FakeSlack
from bot.demo.fake_slack_store import DeliveryKind


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=DEFAULT_TOKEN, base_url=fake.api_url, retry_handlers=[])


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(text: str = "Approve", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": "approve",
        **extra,
    }


def modal(
    title: str = "Request access", blocks: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "access_request",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Submit"},
        "blocks": blocks if blocks is not None else [section("Pick a role")],
    }


def api_error(exc_info: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc_info.value.response["error"])


# -- seed and auth ---------------------------------------------------------------------------------


def test_seeded_demo_workspace(fake: FakeSlack, client: WebClient) -> None:
    # setup / execution
    groups = client.usergroups_list(include_users=True)["usergroups"]

    # validating
    assert [fake.user_id(n) for n in ("alice", "@bob", "carol", "dave", "erin")] == [
        "U0ALICE",
        "U0BOB",
        "U0CAROL",
        "U0DAVE",
        "U0ERIN",
    ]
    assert fake.channel_id("#platform") == "C0PLATFORM"
    assert fake.channel_id("sandbox-approvals") == "C0SBXAPPROVALS"
    assert fake.channel_id("production-approvals") == "C0PRDAPPROVALS"
    by_handle = {g["handle"]: g for g in groups}
    assert set(by_handle) == {
        "engineering",
        "sandbox-owners",
        "production-owners",
        "oncall",
        "platform-leads",
    }
    assert by_handle["engineering"]["users"] == ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"]
    assert by_handle["sandbox-owners"]["users"] == ["U0BOB"]
    assert by_handle["production-owners"]["users"] == ["U0CAROL", "U0ERIN"]
    assert by_handle["oncall"]["users"] == ["U0DAVE"]
    assert by_handle["platform-leads"]["users"] == ["U0BOB"]
    assert by_handle["production-owners"]["id"] == fake.usergroup_id("production-owners")
    assert all(g["id"].startswith("S") for g in groups)
    assert fake.user("carol").email == "carol@example.com"


def test_auth_test_returns_bot_identity(fake: FakeSlack, client: WebClient) -> None:
    resp = client.auth_test()

    assert resp["team"] == "envbot-demo"
    assert resp["user_id"] == "U0ENVBOT"
    assert resp["bot_id"].startswith("B")
    assert fake.calls_to("auth.test")[0].error is None


def test_wrong_token_is_invalid_auth(fake: FakeSlack) -> None:
    client = WebClient(token="xoxb-wrong", base_url=fake.api_url, retry_handlers=[])

    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="#platform", text="hi")

    assert api_error(exc_info) == "invalid_auth"
    assert fake.calls_to("chat.postMessage")[0].error == "invalid_auth"
    assert fake.deliveries_since(0)[0] == []


def test_missing_token_is_not_authed(fake: FakeSlack) -> None:
    client = WebClient(base_url=fake.api_url, retry_handlers=[])

    with pytest.raises(SlackApiError) as exc_info:
        client.auth_test()

    assert api_error(exc_info) == "not_authed"


def test_configured_token_is_accepted() -> None:
    with FakeSlack(token="xoxb-other") as fake:
        client = fake.web_client(retry_handlers=[])
        assert client.auth_test()["ok"] is True
        with pytest.raises(SlackApiError):
            WebClient(token=DEFAULT_TOKEN, base_url=fake.api_url, retry_handlers=[]).auth_test()


def test_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc_info:
        client.api_call("chat.frobnicate")

    assert api_error(exc_info) == "unknown_method"


# -- chat.postMessage ------------------------------------------------------------------------------


def test_post_message_by_name_and_id(fake: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="#platform", text="one")
    second = client.chat_postMessage(channel="C0SBXAPPROVALS", text="two")

    assert first["channel"] == "C0PLATFORM"
    assert second["channel"] == "C0SBXAPPROVALS"
    assert first["ts"] == "1767603600.000100"
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["text"] == "one"
    assert [m.text for m in fake.history("#platform")] == ["one"]


def test_ts_follows_injected_clock() -> None:
    now = [datetime(2026, 1, 5, 9, 30, tzinfo=UTC)]
    with FakeSlack(now=lambda: now[0]) as fake:
        client = fake.web_client(retry_handlers=[])
        a = client.chat_postMessage(channel="#platform", text="a")["ts"]
        b = client.chat_postMessage(channel="#platform", text="b")["ts"]
        now[0] += timedelta(hours=1)
        c = client.chat_postMessage(channel="#platform", text="c")["ts"]

    assert a == f"{int(datetime(2026, 1, 5, 9, 30, tzinfo=UTC).timestamp())}.000000"
    assert b > a
    assert c.startswith(str(int(now[0].timestamp())) + ".")


def test_post_message_to_user_id_is_a_dm(fake: FakeSlack, client: WebClient) -> None:
    resp = client.chat_postMessage(channel="U0ALICE", text="your kubeconfig")

    assert resp["channel"] == fake.dm_channel_id("alice")
    assert resp["channel"].startswith("D")
    [delivery] = fake.deliveries_since(0)[0]
    assert delivery.kind == DeliveryKind.DM
    assert delivery.where == "DM @alice"
    assert delivery.user == "U0ALICE"
    assert [m.text for m in fake.visible_messages("alice")] == ["your kubeconfig"]
    assert fake.visible_messages("bob") == []
    fake.deactivate_user("alice")
    with pytest.raises(SlackApiError) as archived:
        client.chat_postMessage(channel="U0ALICE", text="too late")
    assert api_error(archived) == "is_archived"


def test_unknown_channel_is_channel_not_found(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="#nope", text="hi")

    assert api_error(exc_info) == "channel_not_found"


def test_posting_needs_the_bot_in_the_channel(fake: FakeSlack, client: WebClient) -> None:
    """Without chat:write.public a bot posts only where it was invited: a public channel
    answers not_in_channel (threads too), a private one it is not in is invisible."""
    fake.add_channel("general", bot_member=False)
    fake.add_channel("secret", is_private=True, bot_member=False)

    for ref, error in (("#general", "not_in_channel"), ("#secret", "channel_not_found")):
        with pytest.raises(SlackApiError) as exc_info:
            client.chat_postMessage(channel=ref, text="hi")
        assert api_error(exc_info) == error
    names = [
        c["name"]
        for c in client.conversations_list(types="public_channel,private_channel")["channels"]
    ]
    assert "general" in names
    assert "secret" not in names

    fake.set_bot_member("#general", True)  # /invite @envbot
    posted = client.chat_postMessage(channel="#general", text="hi")
    fake.set_bot_member("general", False)
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel=posted["channel"], text="reply", thread_ts=posted["ts"])
    assert api_error(exc_info) == "not_in_channel"
    assert client.chat_postMessage(channel="#platform", text="seeded: the bot is in")["ok"]


def test_text_over_40000_chars_is_msg_too_long(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="#platform", text="x" * 40_000)

    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="#platform", text="x" * 40_001)

    assert api_error(exc_info) == "msg_too_long"
    assert len(fake.history("#platform")) == 1


def test_no_text_and_no_blocks_is_no_text(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc_info:
        client.api_call("chat.postMessage", json={"channel": "#platform"})

    assert api_error(exc_info) == "no_text"


def test_missing_channel_is_invalid_arguments(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc_info:
        client.api_call("chat.postMessage", json={"text": "hi"})

    assert api_error(exc_info) == "invalid_arguments"
    assert "channel" in exc_info.value.response["response_metadata"]["messages"][0]


def _too_many(n: int) -> list[dict[str, Any]]:
    return [section(f"block {i}") for i in range(n)]


def _actions(*elements: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "actions", "elements": list(elements)}]


def _confirm(
    title: str = "Delete?", text: str = "Sure?", confirm: str = "Delete", deny: str | None = "No"
) -> dict[str, Any]:
    """A confirm dialog object as Block Kit documents it (title, text, confirm, deny)."""
    out: dict[str, Any] = {
        "title": {"type": "plain_text", "text": title},
        "text": {"type": "plain_text", "text": text},
        "confirm": {"type": "plain_text", "text": confirm},
    }
    if deny is not None:
        out["deny"] = {"type": "plain_text", "text": deny}
    return out


OVER_LIMIT_BLOCKS = {
    "51 blocks": (_too_many(51), "/blocks"),
    "section text 3001": ([section("x" * 3001)], "/blocks/0/text/text"),
    "header 151": (
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        "/blocks/0/text/text",
    ),
    "no type": ([{"text": {"type": "mrkdwn", "text": "hi"}}], "/blocks/0/type"),
    "unknown type": ([{"type": "sectoin", "text": "hi"}], "/blocks/0/type"),
    "26 elements": (
        _actions(*[button(action_id=f"a{i}") for i in range(26)]),
        "/blocks/0/elements",
    ),
    "button text 76": (_actions(button("b" * 76)), "/blocks/0/elements/0/text/text"),
    "action_id 256": (_actions(button(action_id="a" * 256)), "/blocks/0/elements/0/action_id"),
    "value 2001": (_actions(button(value="v" * 2001)), "/blocks/0/elements/0/value"),
    "block_id 256": ([section("hi", block_id="b" * 256)], "/blocks/0/block_id"),
    "context 11": (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        "/blocks/0/elements",
    ),
    "fields 11": (
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        "/blocks/0/fields",
    ),
    "field 2001": (
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        "/blocks/0/fields/0/text",
    ),
    "button style": (_actions(button(style="green")), "/blocks/0/elements/0/style"),
    "confirm title 101": (
        _actions(button(confirm=_confirm(title="t" * 101))),
        "/blocks/0/elements/0/confirm/title/text",
    ),
    "confirm text 301": (
        _actions(button(confirm=_confirm(text="t" * 301))),
        "/blocks/0/elements/0/confirm/text/text",
    ),
    "confirm button 31": (
        _actions(button(confirm=_confirm(confirm="c" * 31))),
        "/blocks/0/elements/0/confirm/confirm/text",
    ),
    "deny missing": (
        _actions(button(confirm=_confirm(deny=None))),
        "/blocks/0/elements/0/confirm/deny",
    ),
    "confirm title mrkdwn": (
        _actions(button(confirm={**_confirm(), "title": {"type": "mrkdwn", "text": "t"}})),
        "/blocks/0/elements/0/confirm/title/type",
    ),
    "confirm style": (
        _actions(button(confirm={**_confirm(), "style": "red"})),
        "/blocks/0/elements/0/confirm/style",
    ),
    "duplicate block_id": (
        [section("a", block_id="same"), section("b", block_id="same")],
        "/blocks/1/block_id",
    ),
}


@pytest.mark.parametrize("case", list(OVER_LIMIT_BLOCKS))
def test_over_limit_blocks_are_invalid_blocks(
    fake: FakeSlack, client: WebClient, case: str
) -> None:
    blocks, pointer = OVER_LIMIT_BLOCKS[case]

    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="#platform", text="fallback", blocks=blocks)

    assert api_error(exc_info) == "invalid_blocks"
    messages = exc_info.value.response["response_metadata"]["messages"]
    assert any(f"[json-pointer:{pointer}]" in m for m in messages), messages
    assert fake.history("#platform") == []


def test_blocks_at_the_limits_are_accepted(client: WebClient) -> None:
    at_limits = [
        section("x" * 3000, block_id="b" * 255),
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {
            "type": "actions",
            "elements": [
                button("b" * 75, action_id="a" * 255, value="v" * 2000, style="danger"),
                button(
                    action_id="confirmed",
                    confirm={
                        **_confirm("t" * 100, "x" * 300, "c" * 30, "d" * 30),
                        "style": "danger",
                    },
                ),
                *[button(action_id=f"a{i}") for i in range(23)],
            ],
        },
        *_too_many(45),
    ]
    assert len(at_limits) == 50

    resp = client.chat_postMessage(channel="#platform", text="fallback", blocks=at_limits)

    assert len(resp["message"]["blocks"]) == 50


def test_blocks_as_json_string_in_form_data(fake: FakeSlack, client: WebClient) -> None:
    blocks = [section("from a form")]

    resp = client.api_call(
        "chat.postMessage", data={"channel": "#platform", "blocks": json.dumps(blocks)}
    )

    assert resp["message"]["blocks"] == blocks
    assert fake.calls_to("chat.postMessage")[0].params["blocks"] == blocks
    with pytest.raises(SlackApiError) as bad_json:
        client.api_call("chat.postMessage", data={"channel": "#platform", "blocks": "[{"})
    assert api_error(bad_json) == "invalid_blocks_format"
    with pytest.raises(SlackApiError) as too_long:
        client.api_call(
            "chat.postMessage",
            data={"channel": "#platform", "blocks": json.dumps([section("x" * 3001)])},
        )
    assert api_error(too_long) == "invalid_blocks"


# -- threads and updates ---------------------------------------------------------------------------


def test_thread_replies_group_under_parent(fake: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="#platform", text="env sandbox-alice")
    r1 = client.chat_postMessage(channel="#platform", thread_ts=parent["ts"], text="accepted")
    r2 = client.chat_postMessage(channel="#platform", thread_ts=r1["ts"], text="ready")

    assert r2["message"]["thread_ts"] == parent["ts"]
    assert [m.text for m in fake.history("#platform")] == ["env sandbox-alice"]
    assert [m.text for m in fake.replies("#platform", parent["ts"])] == ["accepted", "ready"]
    deliveries = fake.deliveries_since(0)[0]
    assert [(d.where, d.thread_ts) for d in deliveries] == [
        ("#platform", None),
        ("thread", parent["ts"]),
        ("thread", parent["ts"]),
    ]
    assert all(d.conversation == "#platform" for d in deliveries)
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="#platform", thread_ts="1.000001", text="lost")
    assert api_error(exc_info) == "thread_not_found"


def test_update_replaces_in_place(fake: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(
        channel="#sandbox-approvals",
        text="request 7 pending",
        blocks=[section("pending"), {"type": "actions", "elements": [button()]}],
    )
    client.chat_postMessage(channel="#sandbox-approvals", text="later")

    resp = client.chat_update(
        channel=parent["channel"], ts=parent["ts"], text="approved", blocks=[section("approved")]
    )

    assert resp["ts"] == parent["ts"]
    history = fake.history("#sandbox-approvals")
    assert [m.text for m in history] == ["approved", "later"]
    assert history[0].blocks == [section("approved")]
    assert history[0].edited is True
    update = fake.deliveries_since(0)[0][-1]
    assert (update.kind, update.where, update.ts) == (
        DeliveryKind.UPDATE,
        "#sandbox-approvals",
        parent["ts"],
    )
    assert fake.calls_to("chat.update")[0].params["ts"] == parent["ts"]


def test_update_rejections(client: WebClient) -> None:
    posted = client.chat_postMessage(channel="#platform", text="x")

    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel=posted["channel"], ts="1767603600.999999", text="y")
    with pytest.raises(SlackApiError) as no_channel:
        client.chat_update(channel="C0NOPE", ts=posted["ts"], text="y")
    with pytest.raises(SlackApiError) as too_big:
        client.chat_update(
            channel=posted["channel"], ts=posted["ts"], text="y", blocks=_too_many(51)
        )

    assert api_error(missing) == "message_not_found"
    assert api_error(no_channel) == "channel_not_found"
    assert api_error(too_big) == "invalid_blocks"


# -- ephemerals, DMs, visibility -------------------------------------------------------------------


def test_post_ephemeral(fake: FakeSlack, client: WebClient) -> None:
    resp = client.chat_postEphemeral(channel="C0PLATFORM", user="U0BOB", text="only bob")

    assert resp["message_ts"]
    [delivery] = fake.deliveries_since(0)[0]
    assert (delivery.kind, delivery.where, delivery.user) == (
        DeliveryKind.EPHEMERAL,
        "ephemeral @bob",
        "U0BOB",
    )
    assert [m.text for m in fake.visible_messages("bob")] == ["only bob"]
    assert fake.visible_messages("alice") == []
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postEphemeral(channel="C0PLATFORM", user="U0NOBODY", text="x")
    assert api_error(exc_info) == "user_not_found"


def test_visible_messages_newest_last(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="#platform", text="public 1")
    client.chat_postMessage(channel="U0ALICE", text="alice dm")
    client.chat_postMessage(channel="U0BOB", text="bob dm")
    client.chat_postEphemeral(channel="#platform", user="U0ALICE", text="alice eph")
    client.chat_postEphemeral(channel="#platform", user="U0BOB", text="bob eph")
    first = fake.history("#platform")[0]
    client.chat_update(channel=first.channel, ts=first.ts, text="public 1 edited")

    assert [m.text for m in fake.visible_messages("@alice")] == [
        "public 1 edited",
        "alice dm",
        "alice eph",
    ]
    assert [m.where for m in fake.visible_messages("bob")] == [
        "#platform",
        "DM @bob",
        "ephemeral @bob",
    ]


def test_conversations_open(fake: FakeSlack, client: WebClient) -> None:
    first = client.conversations_open(users="U0CAROL")
    second = client.conversations_open(users=["U0CAROL"])

    assert first["channel"]["id"] == second["channel"]["id"] == fake.dm_channel_id("carol")
    assert second["already_open"] is True
    posted = client.chat_postMessage(channel=first["channel"]["id"], text="hello carol")
    assert fake.deliveries_since(0)[0][-1].where == "DM @carol"
    assert posted["channel"] == first["channel"]["id"]
    with pytest.raises(SlackApiError) as unknown:
        client.conversations_open(users="U0NOBODY")
    assert api_error(unknown) == "user_not_found"
    fake.deactivate_user("carol")
    with pytest.raises(SlackApiError) as disabled:
        client.conversations_open(users="U0CAROL")
    assert api_error(disabled) == "user_disabled"


# -- views -----------------------------------------------------------------------------------------


def test_views_open_and_update(fake: FakeSlack, client: WebClient) -> None:
    trigger = fake.new_trigger_id("alice")

    opened = client.views_open(trigger_id=trigger, view=modal())
    view_id = opened["view"]["id"]
    updated = client.views_update(view_id=view_id, view=modal("Step 2"))

    assert updated["view"]["id"] == view_id
    assert updated["view"]["title"]["text"] == "Step 2"
    [open_modal] = fake.open_modals("alice")
    assert open_modal.view["title"]["text"] == "Step 2"
    kinds = [(d.kind, d.where, d.text) for d in fake.deliveries_since(0)[0]]
    assert kinds == [
        (DeliveryKind.MODAL, "modal @alice", "Request access"),
        (DeliveryKind.MODAL, "modal @alice", "Step 2"),
    ]
    with pytest.raises(SlackApiError) as stale:
        client.views_update(view_id=view_id, view=modal(), hash=opened["view"]["hash"])
    assert api_error(stale) == "hash_conflict"
    with pytest.raises(SlackApiError) as unknown:
        client.views_update(view_id="V0NOPE", view=modal())
    assert api_error(unknown) == "not_found"
    fake.close_view(view_id)
    assert fake.open_modals("alice") == []


def test_views_open_trigger_rules(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as invalid:
        client.views_open(trigger_id="123.456.abc", view=modal())
    trigger = fake.new_trigger_id()
    client.views_open(trigger_id=trigger, view=modal())
    with pytest.raises(SlackApiError) as reused:
        client.views_open(trigger_id=trigger, view=modal())

    assert api_error(invalid) == "invalid_trigger_id"
    assert api_error(reused) == "expired_trigger_id"


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (modal("t" * 25), "/view/title/text"),
        (modal(blocks=_too_many(101)), "/view/blocks"),
        (modal(blocks=[section("x" * 3001)]), "/view/blocks/0/text/text"),
        ({**modal(), "type": "home"}, "/view/type"),
    ],
)
def test_views_open_rejects_over_limit_views(
    fake: FakeSlack, client: WebClient, view: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(SlackApiError) as exc_info:
        client.views_open(trigger_id=fake.new_trigger_id("bob"), view=view)

    # Slack answers invalid_arguments (not invalid_blocks) for views
    assert api_error(exc_info) == "invalid_arguments"
    messages = exc_info.value.response["response_metadata"]["messages"]
    assert any(f"[json-pointer:{pointer}]" in m for m in messages), messages
    assert fake.open_modals("bob") == []


def test_modal_with_100_blocks_and_24_char_title_is_accepted(
    fake: FakeSlack, client: WebClient
) -> None:
    resp = client.views_open(
        trigger_id=fake.new_trigger_id("bob"), view=modal("t" * 24, blocks=_too_many(100))
    )

    assert len(resp["view"]["blocks"]) == 100


def test_views_publish_home(fake: FakeSlack, client: WebClient) -> None:
    home = {"type": "home", "blocks": [section("My environments")]}

    first = client.views_publish(user_id="U0DAVE", view=home)
    again = client.views_publish(user_id="U0DAVE", view={**home, "blocks": [section("none")]})

    assert first["view"]["id"] == again["view"]["id"]
    stored = fake.home_view("dave")
    assert stored is not None
    assert stored.view["blocks"] == [section("none")]
    assert [(d.kind, d.where) for d in fake.deliveries_since(0)[0]] == [
        (DeliveryKind.HOME, "home @dave"),
        (DeliveryKind.HOME, "home @dave"),
    ]
    with pytest.raises(SlackApiError) as wrong_type:
        client.views_publish(user_id="U0DAVE", view=modal())
    assert api_error(wrong_type) == "invalid_arguments"
    with pytest.raises(SlackApiError) as unknown:
        client.views_publish(user_id="U0NOBODY", view=home)
    assert api_error(unknown) == "user_not_found"


# -- users and groups ------------------------------------------------------------------------------


def test_users_info(fake: FakeSlack, client: WebClient) -> None:
    alice = client.users_info(user="U0ALICE")["user"]

    assert alice["name"] == "alice"
    assert alice["real_name"] == "Alice"
    assert alice["profile"]["email"] == "alice@example.com"
    assert (alice["tz"], alice["tz_offset"], alice["deleted"]) == ("UTC", 0, False)

    fake.set_tz("alice", "Europe/Berlin")
    fake.deactivate_user("@alice")
    moved = client.users_info(user="U0ALICE")["user"]

    assert (moved["tz"], moved["tz_offset"], moved["deleted"]) == ("Europe/Berlin", 3600, True)
    with pytest.raises(SlackApiError) as exc_info:
        client.users_info(user="U0NOBODY")
    assert api_error(exc_info) == "user_not_found"


def test_users_lookup_by_email(fake: FakeSlack, client: WebClient) -> None:
    assert client.users_lookupByEmail(email="bob@example.com")["user"]["id"] == "U0BOB"

    with pytest.raises(SlackApiError) as exc_info:
        client.users_lookupByEmail(email="mallory@example.com")

    assert api_error(exc_info) == "users_not_found"


def test_usergroups_users_list(fake: FakeSlack, client: WebClient) -> None:
    owners = client.usergroups_users_list(usergroup=fake.usergroup_id("@sandbox-owners"))
    everyone = client.usergroups_users_list(usergroup="S0ENGINEERING")

    assert owners["users"] == ["U0BOB"]
    assert len(everyone["users"]) == 4
    fake.deactivate_user("dave")
    assert "U0DAVE" not in client.usergroups_users_list(usergroup="S0ENGINEERING")["users"]
    with pytest.raises(SlackApiError) as exc_info:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert api_error(exc_info) == "no_such_subteam"


def test_added_user_and_channel_are_usable(fake: FakeSlack, client: WebClient) -> None:
    frank = fake.add_user("frank", tz="America/New_York")
    channel = fake.add_channel("#incidents")
    fake.set_usergroup_users("sandbox-owners", ["bob", "frank"])

    info = client.users_info(user=frank.id)["user"]
    posted = client.chat_postMessage(channel="#incidents", text="hi")

    assert frank.id == "U0FRANK"
    assert (info["profile"]["email"], info["tz_offset"]) == ("frank@example.com", -5 * 3600)
    assert posted["channel"] == channel.id == "C0INCIDENTS"
    assert client.usergroups_users_list(usergroup="S0SBXOWNERS")["users"] == ["U0BOB", "U0FRANK"]


# -- failures injected by tests --------------------------------------------------------------------


def test_rate_limit_surfaces_429_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=7)

    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="#platform", text="hi")

    assert exc_info.value.response.status_code == 429
    assert exc_info.value.response.headers["Retry-After"] == "7"
    assert api_error(exc_info) == "ratelimited"
    assert client.chat_postMessage(channel="#platform", text="hi")["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]
    assert [m.text for m in fake.history("#platform")] == ["hi"]


def test_rate_limit_retry_handler_recovers(fake: FakeSlack) -> None:
    fake.fail_next("auth.test", status=429, retry_after=0)
    client = WebClient(
        token=DEFAULT_TOKEN,
        base_url=fake.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )

    assert client.auth_test()["ok"] is True
    assert [c.status for c in fake.calls_to("auth.test")] == [429, 200]


def test_server_error_and_count(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.update", status=500, count=2)
    fake.fail_next("users.info", status=200, error="fatal_error")
    posted = client.chat_postMessage(channel="#platform", text="x")

    for _ in range(2):
        with pytest.raises(SlackApiError) as exc_info:
            client.chat_update(channel=posted["channel"], ts=posted["ts"], text="y")
        assert exc_info.value.response.status_code == 500
        assert "Retry-After" not in exc_info.value.response.headers
    with pytest.raises(SlackApiError) as injected:
        client.users_info(user="U0ALICE")

    assert api_error(injected) == "fatal_error"
    assert client.chat_update(channel=posted["channel"], ts=posted["ts"], text="y")["ok"]
    assert fake.history("#platform")[0].text == "y"


# -- response_url ----------------------------------------------------------------------------------


def test_response_url_ephemeral_and_in_channel(fake: FakeSlack) -> None:
    url = fake.new_response_url("C0PLATFORM", "alice")
    hook = WebhookClient(url)

    private = hook.send_dict({"text": "creating sandbox-alice", "response_type": "ephemeral"})
    public = hook.send_dict({"text": "everyone sees this", "response_type": "in_channel"})

    assert (private.status_code, private.body) == (200, "ok")
    assert public.status_code == 200
    deliveries = fake.deliveries_since(0)[0]
    assert [(d.kind, d.where) for d in deliveries] == [
        (DeliveryKind.EPHEMERAL, "ephemeral @alice"),
        (DeliveryKind.POST, "#platform"),
    ]
    assert [m.text for m in fake.visible_messages("bob")] == ["everyone sees this"]
    assert fake.calls_to("response_url")[0].params["text"] == "creating sandbox-alice"


def test_bolt_respond_replaces_and_deletes_original(fake: FakeSlack, client: WebClient) -> None:
    card = client.chat_postMessage(channel="#sandbox-approvals", text="approve?")
    respond = Respond(
        response_url=fake.new_response_url("#sandbox-approvals", "bob", message_ts=card["ts"])
    )

    replaced = respond(text="approved by @bob", replace_original=True)

    assert replaced.status_code == 200
    assert [m.text for m in fake.history("#sandbox-approvals")] == ["approved by @bob"]
    assert fake.deliveries_since(0)[0][-1].kind == DeliveryKind.UPDATE
    respond(delete_original=True)
    assert fake.history("#sandbox-approvals") == []
    assert fake.deliveries_since(0)[0][-1].kind == DeliveryKind.DELETE


def test_response_url_rejections(fake: FakeSlack) -> None:
    url = fake.new_response_url("#platform", "alice")
    hook = WebhookClient(url)

    unknown = WebhookClient(fake.url + "/response/nope").send_dict({"text": "x"})
    too_big = hook.send_dict({"text": "x", "blocks": _too_many(51)})
    uses = [hook.send_dict({"text": f"use {i}"}).status_code for i in range(5)]

    assert unknown.status_code == 404
    assert too_big.status_code == 400
    assert too_big.body == "invalid_blocks"
    assert uses == [200, 200, 200, 200, 404]
    with pytest.raises(KeyError):
        fake.new_response_url("#nope", "alice")


# -- feed, recording, concurrency ------------------------------------------------------------------


def test_deliveries_since_cursor(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="#platform", text="one")
    first, cursor = fake.deliveries_since(0)
    client.chat_postMessage(channel="#platform", text="two")
    second, cursor2 = fake.deliveries_since(cursor)
    empty, cursor3 = fake.deliveries_since(cursor2)

    assert [d.text for d in first] == ["one"]
    assert [d.text for d in second] == ["two"]
    assert (empty, cursor3) == ([], 2)
    assert [d.seq for d in first + second] == [0, 1]


def test_calls_record_params_without_token(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="#platform", text="hi", blocks=[section("hi")])
    fake.fail_next("chat.postMessage", status=200, error="channel_not_found")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="#platform", text="again")

    calls = fake.calls_to("chat.postMessage")

    assert calls[0].params == {"channel": "#platform", "text": "hi", "blocks": [section("hi")]}
    assert "token" not in calls[0].params
    assert (calls[1].status, calls[1].error) == (200, "channel_not_found")
    fake.clear_calls()
    assert fake.calls == []


def test_concurrent_posts_get_unique_increasing_ts(fake: FakeSlack) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        client = fake.web_client(retry_handlers=[])
        for i in range(10):
            ts = client.chat_postMessage(channel="#platform", text=f"{n}-{i}")["ts"]
            with lock:
                results.append(ts)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(set(results)) == 60
    history = fake.history("#platform")
    assert len(history) == 60
    assert [m.ts for m in history] == sorted(results)
    assert len(fake.calls_to("chat.postMessage")) == 60
