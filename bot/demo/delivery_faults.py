"""The delivery fault matrix: many flows through the real outbox drain and a real WebClient
against the fake Slack failing a share of calls (429, 5xx, lost answers, response_url 500s).

A flow is a card in a channel, a reply in its thread, a DM and a private answer through a
response_url. Counted at the end: channel/thread/DM posts lost (no message carries the row's
key) or doubled (more than one does), private answers lost (never shown), rows sent and parked.
Used by `tests/scenario/test_delivery_faults.py` (small N) and `bench/delivery_faults.py`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import OutboxMessage
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_faults import FaultProfile
from bot.demo.fake_slack_store import DeliveryKind
from bot.domain.clock import ManualClock
from bot.slack.blocks import text_message
from bot.slack.delivery import OutboxDrain
from bot.slack.notify import Notifier

CHANNELS = ("platform", "sandbox-approvals", "production-approvals")
USERS = ("alice", "bob", "carol", "dave")
FAULTY = frozenset(
    {
        "chat.postMessage",
        "chat.postEphemeral",
        "chat.update",
        "conversations.open",
        "conversations.history",
        "conversations.replies",
        "conversations.list",
        "response_url",
    }
)


@dataclass(frozen=True)
class Figures:
    """What a run of the matrix counted."""

    flows: int
    lost: int
    doubled: int
    answers_lost: int
    sent: int
    parked: int
    faults: int
    simulated_s: float
    elapsed_s: float


def queue_flows(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock, n: int
) -> None:
    """Queue `n` flows (card, thread reply, DM, private answer) as the services would."""
    notifier = Notifier()
    with sessions.begin() as s:
        for i in range(n):
            channel, user = CHANNELS[i % len(CHANNELS)], USERS[i % len(USERS)]
            obj, now = ("env", f"e{i}"), clock.now()
            notifier.card(
                s, now=now, obj=obj, channel=f"#{channel}", message=text_message(f"card {i}")
            )
            notifier.thread(s, now=now, obj=obj, key="ready", message=text_message(f"ready {i}"))
            uid = fake.user_id(user)
            notifier.dm(
                s, now=now, user_id=uid, key=f"kubectl {i}", message=text_message(f"dm {i}")
            )
            notifier.respond(
                s,
                now=now,
                key=f"t{i}",
                url=fake.new_response_url(fake.channel_id(channel), user),
                channel=fake.channel_id(channel),
                user_id=uid,
                message=text_message(f"answer {i}"),
            )


def run_matrix(
    sessions: sessionmaker[Session],
    fake: FakeSlack,
    clock: ManualClock,
    *,
    flows: int,
    rate: float,
    seed: int = 0,
    max_steps: int = 2000,
) -> Figures:
    """Queue `flows` flows, fail `rate` of Slack's answers, drain until nothing is left to do."""
    queue_flows(sessions, fake, clock, flows)
    profile = FaultProfile(rate=rate, seed=seed, methods=FAULTY)
    fake.inject_faults(profile)
    drain = OutboxDrain(sessions, fake.web_client(retry_handlers=[]), clock)
    started, start = time.monotonic(), clock.now()
    for _ in range(max_steps):
        drain.drain()
        if _open(sessions) == 0:
            break
        clock.advance(timedelta(seconds=1))
    fake.inject_faults(None)
    return _count(sessions, fake, flows, profile, (clock.now() - start), time.monotonic() - started)


def _open(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        query = select(func.count()).select_from(OutboxMessage)
        return int(s.scalar(query.where(OutboxMessage.status.in_(("pending", "sending")))) or 0)


def _count(
    sessions: sessionmaker[Session],
    fake: FakeSlack,
    flows: int,
    profile: FaultProfile,
    simulated: timedelta,
    elapsed: float,
) -> Figures:
    with sessions() as s:
        rows = s.scalars(select(OutboxMessage)).all()
        posted_keys = [r.key for r in rows if r.kind in ("post", "dm")]
        statuses = Counter(r.status for r in rows)
    carried = Counter(
        str((m.metadata or {}).get("event_payload", {}).get("key")) for m in fake.kept_messages()
    )
    deliveries, _ = fake.deliveries_since(0)
    shown = {
        d.text
        for d in deliveries
        if d.kind in (DeliveryKind.EPHEMERAL, DeliveryKind.DM) and d.text.startswith("answer ")
    }
    return Figures(
        flows=flows,
        lost=sum(1 for k in posted_keys if carried[k] == 0),
        doubled=sum(carried[k] - 1 for k in posted_keys if carried[k] > 1),
        answers_lost=sum(1 for i in range(flows) if f"answer {i}" not in shown),
        sent=statuses["sent"],
        parked=statuses["parked"],
        faults=sum(profile.injected.values()),
        simulated_s=simulated.total_seconds(),
        elapsed_s=elapsed,
    )
