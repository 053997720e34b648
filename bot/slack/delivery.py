"""The outbox drain: sends queued messages with slack-sdk's WebClient, paced per channel.

A row is claimed (`sending`, compare-and-set on its attempts) and committed before the API
call, and marked `sent` after it, so two drains never both send it. A crash in between leaves
it `sending`; the drain resumes those only after `resume_after`, so a slow send on another
replica is not doubled. Slack allows about one message per second per channel: each channel
(posts, thread replies, updates, ephemerals and DMs alike) has a next-free time, and a row
whose channel is busy stays pending with `due_at` moved to that time, so the drain never
sleeps. A 429 holds its whole channel for Retry-After; 5xx backs the row off; a row that keeps
failing is parked and counted, never dropped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import OutboxMessage, SlackMessage
from bot.domain.clock import Clock
from bot.slack.outbox_metrics import (
    PARKED_TOTAL,
    PENDING,
    PERMANENT_ERRORS,
    RATE_LIMITED_TOTAL,
    SENT_TOTAL,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


class _Wait(Exception):
    """The row cannot be sent yet (its card is not posted); try again later."""


@dataclass(frozen=True)
class _Target:
    """Where a row goes: the limiter's channel key, and the card's channel and ts if it has one."""

    key: str
    channel: str = ""
    ts: str = ""


class OutboxDrain:
    """Sends due outbox rows in order, about one per second per channel; one job at a time."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: WebClient,
        clock: Clock,
        *,
        batch: int = 100,
        max_batches: int = 10,
        resume_after: timedelta = timedelta(minutes=2),
        per_channel: timedelta = timedelta(seconds=1),
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._batch = batch
        self._max_batches = max_batches
        self._resume_after = resume_after
        self._per_channel = per_channel
        self._dm_channels: dict[str, str] = {}
        # A posted name (`#platform`) → the id Slack answered with, so a card's thread
        # replies and updates (which know only the id) share the name's limiter slot.
        self._aliases: dict[str, str] = {}
        # In memory on purpose: only the leader drains, and a restart forgets at most one
        # second of pacing (Slack tolerates short bursts) or a Retry-After whose rows were
        # already moved to `due_at` in the database.
        self._free_at: dict[str, datetime] = {}
        self.parked = 0

    def drain(self) -> int:
        """Send every due row whose channel is free; busy channels' rows wait in the table.

        Rows are read in batches by (due_at, id). A busy channel's rows move to when it frees,
        out of the due set, so the next batch reaches other channels: one channel's backlog
        never starves the rest (up to `max_batches` batches per drain).

        Returns:
            How many rows were sent.
        """
        now = self._clock.now()
        sent = 0
        for _ in range(self._max_batches):
            rows = self._due(now)
            batch_sent, moved = self._drain_batch(rows, now)
            sent += batch_sent
            if len(rows) < self._batch or moved == 0:
                break
        self._update_pending_gauge()
        return sent

    def next_due(self, now: datetime) -> datetime | None:
        """When `drain` next has work: the earliest pending row (one whose channel is busy too:
        moving it decides the channel's order), or the earliest `sending` row to resume."""
        with self._sessions() as s:
            pending, sending = (
                s.scalar(select(func.min(OutboxMessage.due_at)).where(OutboxMessage.status == st))
                for st in ("pending", "sending")
            )
        resume = sending + self._resume_after if sending is not None else None
        return min((d for d in (pending, resume) if d is not None), default=None)

    def _due(self, now: datetime) -> list[OutboxMessage]:
        with self._sessions.begin() as s:
            return list(
                s.scalars(
                    select(OutboxMessage)
                    .where(
                        or_(
                            (OutboxMessage.status == "pending") & (OutboxMessage.due_at <= now),
                            (OutboxMessage.status == "sending")
                            & (OutboxMessage.due_at <= now - self._resume_after),
                        )
                    )
                    .order_by(OutboxMessage.due_at, OutboxMessage.id)
                    .limit(self._batch)
                ).all()
            )

    def _drain_batch(self, rows: list[OutboxMessage], now: datetime) -> tuple[int, int]:
        """Send or defer one batch; returns (sent, rows that left the due set)."""
        sent = moved = 0
        deferred: dict[datetime, list[int]] = defaultdict(list)
        for row in rows:
            try:
                target = self._target(row)
            except _Wait:
                self._reschedule(row, now + timedelta(seconds=1), "waiting for the card")
                moved += 1
                continue
            free_at = self._free_at.get(target.key)
            if free_at is not None and free_at > now:
                if row.status == "pending":
                    deferred[free_at].append(row.id)
                    moved += 1
                continue
            if self._claim(row, now):
                self._free_at[target.key] = now + self._per_channel
                sent += self._send_one(row, target, now)
                moved += 1
        self._defer(deferred)
        return sent, moved

    def _target(self, row: OutboxMessage) -> _Target:
        if row.kind == "update":
            channel, ts = self._card(row)
            return _Target(self._key(channel), channel, ts)
        if row.kind == "dm":
            return _Target(f"dm:{row.user_id}")
        if row.kind == "post" and row.thread_purpose:
            channel, parent = self._card(row, row.thread_purpose)
            return _Target(self._key(channel), channel, parent)
        return _Target(self._key(row.channel))

    def _key(self, channel: str) -> str:
        return self._aliases.get(channel, channel)

    def _claim(self, row: OutboxMessage, now: datetime) -> bool:
        # Compare-and-set on (status, attempts): a second drain holding the same stale row
        # matches nothing once the first has claimed it, so one send per claim.
        with self._sessions.begin() as s:
            result = s.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.status == row.status,
                    OutboxMessage.attempts == row.attempts,
                )
                .values(status="sending", due_at=now, attempts=OutboxMessage.attempts + 1)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _send_one(self, row: OutboxMessage, target: _Target, now: datetime) -> int:
        try:
            channel, ts = self._send(row, target)
        except SlackApiError as exc:
            self._failed(row, target, now, exc)
            return 0
        with self._sessions.begin() as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(status="sent", sent_at=now, last_error="")
            )
            if row.purpose and row.kind == "post" and ts:
                s.add(
                    SlackMessage(
                        object_type=row.object_type,
                        object_id=row.object_id,
                        purpose=row.purpose,
                        channel=channel,
                        ts=ts,
                        created_at=now,
                    )
                )
        SENT_TOTAL.inc()
        return 1

    def _send(self, row: OutboxMessage, target: _Target) -> tuple[str, str]:
        payload: dict[str, Any] = dict(row.payload)
        if row.kind == "update":
            self._client.chat_update(channel=target.channel, ts=target.ts, **payload)
            return target.channel, target.ts
        if row.kind == "ephemeral":
            resp = self._client.chat_postEphemeral(channel=row.channel, user=row.user_id, **payload)
            return row.channel, str(resp.get("message_ts", ""))
        if row.kind == "dm":
            channel = self._dm_channel(row.user_id)
            resp = self._client.chat_postMessage(channel=channel, **payload)
            return channel, str(resp["ts"])
        if row.thread_purpose:
            resp = self._client.chat_postMessage(
                channel=target.channel, thread_ts=target.ts, **payload
            )
            return target.channel, str(resp["ts"])
        name = row.channel
        resp = self._client.chat_postMessage(channel=name, **payload)
        channel = str(resp["channel"])
        if channel != name:
            self._aliases[channel] = name
        return channel, str(resp["ts"])

    def _card(self, row: OutboxMessage, purpose: str = "card") -> tuple[str, str]:
        with self._sessions() as s:
            ref = s.scalars(
                select(SlackMessage).where(
                    SlackMessage.object_type == row.object_type,
                    SlackMessage.object_id == row.object_id,
                    SlackMessage.purpose == purpose,
                )
            ).first()
        if ref is None:
            raise _Wait
        return ref.channel, ref.ts

    def _dm_channel(self, user_id: str) -> str:
        if user_id not in self._dm_channels:
            resp = self._client.conversations_open(users=user_id)
            self._dm_channels[user_id] = str(resp["channel"]["id"])
        return self._dm_channels[user_id]

    def _failed(
        self, row: OutboxMessage, target: _Target, now: datetime, exc: SlackApiError
    ) -> None:
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if status != 429 else "ratelimited"
        if status == 429:
            RATE_LIMITED_TOTAL.inc()
            retry = timedelta(seconds=float(exc.response.headers.get("Retry-After", "1")))
            # The whole channel waits: later rows for it in this drain, and every drain after.
            self._free_at[target.key] = max(self._free_at.get(target.key, now), now + retry)
            self._reschedule(row, now + retry, error, count=False)
            return
        attempts = row.attempts + 1
        if error in PERMANENT_ERRORS or attempts >= MAX_ATTEMPTS:
            logger.error("outbox message %s parked after %s attempts: %s", row.key, attempts, error)
            self.parked += 1
            PARKED_TOTAL.inc()
            with self._sessions.begin() as s:
                s.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id)
                    .values(status="parked", last_error=error or f"HTTP {status}")
                )
            return
        backoff = min(2**attempts, 300)
        self._reschedule(row, now + timedelta(seconds=backoff), error or f"HTTP {status}")

    def _reschedule(
        self, row: OutboxMessage, due: datetime, error: str, *, count: bool = True
    ) -> None:
        values: dict[str, Any] = {"status": "pending", "due_at": due, "last_error": error}
        if not count:
            values["attempts"] = OutboxMessage.attempts - 1
        with self._sessions.begin() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))

    def _defer(self, deferred: dict[datetime, list[int]]) -> None:
        """Move rows whose channel is busy to when it frees: one UPDATE per moment."""
        if not deferred:
            return
        with self._sessions.begin() as s:
            for due, ids in deferred.items():
                s.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending")
                    .values(due_at=due)
                )

    def _update_pending_gauge(self) -> None:
        with self._sessions() as s:
            query = select(func.count()).select_from(OutboxMessage)
            PENDING.set(s.execute(query.where(OutboxMessage.status == "pending")).scalar_one())
