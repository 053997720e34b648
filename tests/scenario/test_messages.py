"""Messages that say what happens next and where (issue 15 item 4), over signed HTTP: a card
the bot cannot post goes to the requester as a DM saying why, and the wrong answers are fixed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db.models import Environment, OutboxMessage
from bot.demo.signing import slash_body
from tests.scenario.conftest import message_text, wait_for
from tests.scenario.test_access import World, world  # noqa: F401  (the fixture)


def _ask_in(w: World, channel: str, user: str, command: str, text: str) -> str:
    """Type `command text` as `user` in `channel`; the ephemeral answer."""
    cid, uid = w.slack.channel_id(channel), w.uid(user)
    body = slash_body(
        command,
        text,
        user_id=uid,
        user_name=user,
        channel_id=cid,
        response_url=w.slack.new_response_url(cid, uid),
        trigger_id=w.slack.new_trigger_id(uid),
    )
    cursor = w.http.mark()
    assert w.http.post(body).status_code == 200
    got = wait_for(lambda: w.http.ephemerals_since(cursor, user), what=f"answer to {text!r}")
    return message_text(got[0].text, got[0].blocks)


def _env(w: World, name: str) -> Environment:
    with w.sessions() as s:
        return s.scalars(select(Environment).where(Environment.name == name)).one()


def test_a_card_the_bot_cannot_post_goes_to_the_requester_with_the_fix(
    world: World,  # noqa: F811
) -> None:
    # setup: a public channel nobody invited the bot to
    world.slack.add_channel("general", bot_member=False)

    # execution
    answer = _ask_in(world, "general", "alice", "/env", "create sandbox lost-card")
    world.jobs()
    world.advance(timedelta(minutes=30))

    # validating: the card is a DM to alice that names the channel and the fix, it is kept
    # current in place, and its thread replies follow it there; nothing was parked
    general = world.slack.channel_id("general")
    assert f"I am not in <#{general}>, so the card and its thread come to you as a DM" in answer
    assert "card's thread." not in answer
    env = _env(world, "lost-card")
    assert env.state == "READY"
    assert world.slack.history(world.slack.channel_id("general")) == []
    cards = [m for m in world.dm_messages("alice") if "I could not post in" in m.text]
    assert len(cards) == 1, [m.text for m in cards]
    card = world.slack.message(cards[0].channel, cards[0].ts)
    assert card is not None
    shown = message_text(card.text, card.blocks)
    assert f"I could not post in <#{general}>: invite me with `/invite @envbot`" in shown
    assert "State: *ready*" in shown, shown
    replies = world.slack.replies(card.channel, card.ts)
    assert len(replies) >= 2, [r.text for r in replies]
    with world.sessions() as s:
        assert (
            s.scalars(select(OutboxMessage.status).where(OutboxMessage.status == "parked")).all()
            == []
        )


def test_create_in_a_channel_with_the_bot_points_to_the_thread(world: World) -> None:  # noqa: F811
    answer = world.http.ask("alice", "/env", "create sandbox here-card")
    assert "Follow the progress in the card's thread." in answer
    assert "I am not in" not in answer


def test_delete_of_a_pending_environment_says_how_to_withdraw_it(world: World) -> None:  # noqa: F811
    # setup: production needs approval, so the environment waits for the owners
    answer = world.http.ask("alice", "/env", "create prod-cluster waiting-env")
    assert "needs approval" in answer
    world.jobs()

    # execution
    said = world.http.ask("alice", "/env", "delete waiting-env")

    # validating
    assert "waiting-env is still waiting for approval, so there is nothing to delete yet" in said
    assert "press Cancel on its card in #production-approvals" in said
    assert "already being deleted" not in said
    assert _env(world, "waiting-env").state == "PENDING_APPROVAL"


def test_cancel_of_an_approved_grant_points_to_revoke(world: World) -> None:  # noqa: F811
    req_id = world.approved("alice", 'sandbox view 2d "read the logs"')

    said = world.http.ask("alice", "/access", f"cancel {req_id}")

    assert f"use `/access revoke {req_id}`" in said
    assert world.req(req_id).state == "ACTIVE"


def test_a_second_identical_access_request_names_the_first(world: World) -> None:  # noqa: F811
    # setup
    pending = world.request("alice", 'sandbox admin 4h "debug the ingress"')

    # execution: the same again while it waits, then while the grant is active
    again = world.http.ask("alice", "/access", 'request sandbox admin 4h "debug the ingress"')
    active = world.approved("alice", 'sandbox view 2d "read the logs"')
    twice = world.http.ask("alice", "/access", 'request sandbox view 2d "read the logs"')

    # validating: both refused, naming the existing one and what to do instead
    assert f"you already asked for admin in sandbox: `{pending}` waits for the owners" in again
    assert f"`/access cancel {pending}` first" in again
    assert f"you already have view in sandbox for this reason: `{active}`" in twice
    assert f"use `/access extend {active}`" in twice
    assert [r for r, _ in world.requests()] == sorted([pending, active])


def test_a_transfer_to_the_owner_is_refused(world: World) -> None:  # noqa: F811
    world.http.ask("alice", "/env", "create sandbox mine")
    world.jobs()
    alice = world.uid("alice")

    said = world.http.ask("alice", "/env", f"transfer mine <@{alice}|alice>")

    assert "mine already belongs to you; name the person who should own it" in said
    env = _env(world, "mine")
    assert env.owner_id == alice
    assert [e for e in world.events(env.id) if e.action == "transfer"] == []
