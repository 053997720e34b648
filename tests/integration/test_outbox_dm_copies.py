"""DM copies of a card in the outbox against the fake Slack: the drain records each DM's
channel (`D…`) and ts under its purpose, updates it there (never by the user id, which Slack
refuses), and parks an update whose DM was parked instead of waiting for it forever."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import OutboxMessage, SlackMessage
from bot.demo.fake_slack import FakeSlack
from bot.domain.clock import ManualClock
from bot.policy import Retention
from bot.services.retention import prune
from bot.slack.blocks import text_message
from bot.slack.delivery import OutboxDrain
from bot.slack.notify import Notifier
from bot.slack.outbox_metrics import PARKED_TOTAL
from tests.integration.conftest import NO_RETRIES

OBJ = ("access", "r1")


def _copy(sessions: sessionmaker[Session], clock: ManualClock, user_id: str) -> None:
    with sessions.begin() as s:
        Notifier().dm(
            s,
            now=clock.now(),
            user_id=user_id,
            key="approve:r1",
            message=text_message("0 of 2 approvals"),
            obj=OBJ,
            purpose=f"dm:{user_id}",
        )


def _update(sessions: sessionmaker[Session], clock: ManualClock, user_id: str, text: str) -> None:
    with sessions.begin() as s:
        Notifier().update_copy(
            s,
            now=clock.now(),
            obj=OBJ,
            version=2,
            purpose=f"dm:{user_id}",
            message=text_message(text),
        )


def _run(drain: OutboxDrain, clock: ManualClock, times: int = 3) -> None:
    for _ in range(times):
        drain.drain()
        clock.advance(timedelta(seconds=1))


def test_a_dm_copy_is_updated_in_place_by_its_dm_channel_id(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: the copy is sent; an update queued before it was sent waits for it
    carol = fake.user_id("carol")
    _copy(sessions, clock, carol)
    _update(sessions, clock, carol, "1 of 2 approvals")

    # execution
    _run(drain, clock)

    # validating: one DM, now showing the update; recorded and updated by its D… id
    (dm,) = [m for m in fake.visible_messages(carol) if m.dm_user == carol]
    assert dm.text == "1 of 2 approvals"
    with sessions() as s:
        ref = s.scalars(select(SlackMessage).where(SlackMessage.purpose == f"dm:{carol}")).one()
    assert (ref.object_type, ref.object_id, ref.channel, ref.ts) == (*OBJ, dm.channel, dm.ts)
    assert ref.channel.startswith("D")
    ((update),) = fake.calls_to("chat.update")
    assert (update.params["channel"], update.params["ts"], update.error) == (
        ref.channel,
        ref.ts,
        None,
    )


def test_the_fake_refuses_an_update_by_user_id_as_slack_does(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    # setup
    carol = fake.user_id("carol")
    _copy(sessions, clock, carol)
    _run(drain, clock, 1)
    (dm,) = [m for m in fake.visible_messages(carol) if m.dm_user == carol]

    # execution / validating: chat.update needs the DM's id, not the user's
    with pytest.raises(SlackApiError) as refused:
        fake.web_client(retry_handlers=NO_RETRIES).chat_update(channel=carol, ts=dm.ts, text="x")
    assert refused.value.response["error"] == "channel_not_found"


def test_an_update_of_a_copy_whose_dm_was_parked_is_parked_too(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: the copy goes to someone Slack will not DM (deactivated: is_archived, parked)
    erin = fake.user_id("erin")
    fake.deactivate_user("erin")
    _copy(sessions, clock, erin)
    _update(sessions, clock, erin, "1 of 2 approvals")

    # execution
    _run(drain, clock, 4)

    # validating: both parked, nothing pending, nothing updated
    with sessions() as s:
        rows = {r.kind: (r.status, r.last_error) for r in s.scalars(select(OutboxMessage))}
    assert rows["dm"][0] == "parked"
    assert rows["update"] == ("parked", f"its DM (dm:{erin}) was never sent")
    assert fake.calls_to("chat.update") == []


def test_an_update_of_a_copy_whose_parked_dm_was_pruned_does_not_wait_forever(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: the copy's DM was parked, and retention pruned it (parked rows go after 7 days);
    # the card lives on (an environment's card is re-rendered until it is deleted)
    erin = fake.user_id("erin")
    fake.deactivate_user("erin")
    _copy(sessions, clock, erin)
    _run(drain, clock, 1)
    clock.advance(timedelta(days=8))
    assert prune(sessions, clock, Retention()).outbox == 1
    _update(sessions, clock, erin, "deleted")

    # execution
    _run(drain, clock, 3)

    # validating: the update is settled, not rescheduled every second for ever
    with sessions() as s:
        (row,) = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "update"))
    assert (row.status, row.last_error) == ("parked", f"its DM (dm:{erin}) was never sent")
    assert fake.calls_to("chat.update") == []


def test_updates_of_a_parked_copy_are_not_logged_as_errors_each_time(
    sessions: sessionmaker[Session],
    drain: OutboxDrain,
    fake: FakeSlack,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # setup: a copy Slack would not deliver (parked: one error, counted), then many re-renders
    erin = fake.user_id("erin")
    fake.deactivate_user("erin")
    _copy(sessions, clock, erin)
    _run(drain, clock, 1)
    before = PARKED_TOTAL._value.get()
    caplog.clear()

    # execution: five votes' worth of updates, each drained
    for version in range(2, 7):
        with sessions.begin() as s:
            Notifier().update_copy(
                s,
                now=clock.now(),
                obj=OBJ,
                version=version,
                purpose=f"dm:{erin}",
                message=text_message(f"{version - 1} of 6 approvals"),
            )
        _run(drain, clock, 1)

    # validating: settled quietly: no error line, no parked count (the DM's was the alarm)
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == [], [r.getMessage() for r in errors]
    assert PARKED_TOTAL._value.get() == before
    with sessions() as s:
        statuses = [r.status for r in s.scalars(select(OutboxMessage))]
    assert "pending" not in statuses


def test_an_older_render_that_failed_never_overwrites_a_newer_one(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: the copy is sent; render 2 is queued; while chat.update of render 2 is in flight
    # a vote queues render 3 (render 2 is being sent, so not dropped) and Slack answers 500
    carol = fake.user_id("carol")
    client = fake.web_client(retry_handlers=NO_RETRIES)
    send = client.chat_update
    raced: list[bool] = []

    def racing(**kwargs: Any) -> Any:
        if not raced:
            raced.append(True)
            with sessions.begin() as s:  # as Lifecycle.refresh queues a re-render
                Notifier().update_card(
                    s, now=clock.now(), obj=OBJ, version=3, message=text_message("card")
                )
                Notifier().update_copy(
                    s,
                    now=clock.now(),
                    obj=OBJ,
                    version=3,
                    purpose=f"dm:{carol}",
                    message=text_message("2 of 3 approvals"),
                )
            fake.fail_next("chat.update", status=500)
        return send(**kwargs)

    client.chat_update = racing  # type: ignore[method-assign]
    drain = OutboxDrain(sessions, client, clock)
    _copy(sessions, clock, carol)
    _run(drain, clock, 1)
    _update(sessions, clock, carol, "1 of 3 approvals")

    # execution: render 2 fails and is retried later; render 3 goes meanwhile
    _run(drain, clock, 6)

    # validating: the copy shows the newest render, not the retried older one
    assert raced
    (dm,) = [m for m in fake.visible_messages(carol) if m.dm_user == carol]
    assert dm.text == "2 of 3 approvals"


def test_a_copy_whose_answer_was_lost_is_found_and_recorded_by_its_dm_id(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: Slack takes the copy's DM but its answer is lost (a crash between the two alike)
    carol = fake.user_id("carol")
    fake.drop_next("chat.postMessage", after=True)
    _copy(sessions, clock, carol)
    _update(sessions, clock, carol, "1 of 2 approvals")

    # execution: the retry finds the DM by its metadata instead of posting it again
    _run(drain, clock, 6)

    # validating: one DM, recorded by its D… id and ts, and updated there
    (dm,) = [m for m in fake.visible_messages(carol) if m.dm_user == carol]
    assert dm.text == "1 of 2 approvals"
    with sessions() as s:
        ref = s.scalars(select(SlackMessage).where(SlackMessage.purpose == f"dm:{carol}")).one()
    assert (ref.channel, ref.ts) == (dm.channel, dm.ts)
    assert ref.channel.startswith("D")
    assert len(fake.calls_to("chat.postMessage")) == 1  # the lost one, never posted again
    assert fake.calls_to("conversations.history")


def test_an_update_of_a_copy_slack_no_longer_has_is_parked_at_once(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: the copy was sent, then Slack lost it (its workspace's message retention deleted
    # it: the recorded ts names no message any more)
    carol = fake.user_id("carol")
    _copy(sessions, clock, carol)
    _run(drain, clock, 1)
    with sessions.begin() as s:
        ref = s.scalars(select(SlackMessage).where(SlackMessage.purpose == f"dm:{carol}")).one()
        ref.ts = "1000000000.000001"
    _update(sessions, clock, carol, "1 of 2 approvals")

    # execution: long enough for every retry of a transient error
    _run(drain, clock, 30)

    # validating: message_not_found is permanent: one call, parked, not retried with backoff
    with sessions() as s:
        (row,) = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "update"))
    assert (row.status, row.last_error, row.attempts) == ("parked", "message_not_found", 1)
    assert len(fake.calls_to("chat.update")) == 1
