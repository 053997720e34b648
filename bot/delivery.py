"""The outbox drain: sends queued messages with slack-sdk's WebClient, at most once each.

A row is marked `sending` and committed before the API call, and `sent` after it. A crash in
between leaves it `sending`; the drain resumes those only after `resume_after`, so a slow
send on another replica is not doubled. Rate limits (429 + Retry-After) and 5xx push the
row's `due_at` back; a row that keeps failing is parked and counted, never dropped.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import OutboxMessage, SlackMessage
from bot.domain.clock import Clock

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
        "invalid_arguments",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "cant_update_message",
    }
)


class _Wait(Exception):
    """The row cannot be sent yet (its card is not posted); try again later."""


class OutboxDrain:
    """Sends due outbox rows in order; safe to run from one job at a time."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: WebClient,
        clock: Clock,
        *,
        batch: int = 100,
        resume_after: timedelta = timedelta(minutes=2),
        channel_ids: dict[str, str] | None = None,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._batch = batch
        self._resume_after = resume_after
        self._dm_channels: dict[str, str] = {}
        self._channel_ids = channel_ids or {}
        self.parked = 0

    def drain(self) -> int:
        """Send every due row; returns how many were sent."""
        now = self._clock.now()
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(OutboxMessage)
                .where(
                    or_(
                        (OutboxMessage.status == "pending") & (OutboxMessage.due_at <= now),
                        (OutboxMessage.status == "sending")
                        & (OutboxMessage.due_at <= now - self._resume_after),
                    )
                )
                .order_by(OutboxMessage.id)
                .limit(self._batch)
            ).all()
        sent = 0
        for row in rows:
            if self._claim(row.id, now):
                sent += self._send_one(row, now)
        return sent

    def _claim(self, row_id: int, now: datetime) -> bool:
        with self._sessions.begin() as s:
            result = s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.status.in_(("pending", "sending")))
                .values(status="sending", due_at=now, attempts=OutboxMessage.attempts + 1)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _send_one(self, row: OutboxMessage, now: datetime) -> int:
        try:
            channel, ts = self._send(row)
        except _Wait:
            self._reschedule(row, now + timedelta(seconds=1), "waiting for the card", count=False)
            return 0
        except SlackApiError as exc:
            self._failed(row, now, exc)
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
        return 1

    def _send(self, row: OutboxMessage) -> tuple[str, str]:
        payload: dict[str, Any] = dict(row.payload)
        if row.kind == "update":
            channel, ts = self._card(row)
            self._client.chat_update(channel=channel, ts=ts, **payload)
            return channel, ts
        if row.kind == "ephemeral":
            resp = self._client.chat_postEphemeral(
                channel=self._channel(row.channel), user=row.user_id, **payload
            )
            return row.channel, str(resp.get("message_ts", ""))
        if row.kind == "dm":
            channel = self._dm_channel(row.user_id)
            resp = self._client.chat_postMessage(channel=channel, **payload)
            return channel, str(resp["ts"])
        if row.thread_purpose:
            channel, parent = self._card(row, row.thread_purpose)
            resp = self._client.chat_postMessage(channel=channel, thread_ts=parent, **payload)
            return channel, str(resp["ts"])
        resp = self._client.chat_postMessage(channel=self._channel(row.channel), **payload)
        return str(resp["channel"]), str(resp["ts"])

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

    def _channel(self, channel: str) -> str:
        return self._channel_ids.get(channel, channel)

    def _dm_channel(self, user_id: str) -> str:
        if user_id not in self._dm_channels:
            resp = self._client.conversations_open(users=user_id)
            self._dm_channels[user_id] = str(resp["channel"]["id"])
        return self._dm_channels[user_id]

    def _failed(self, row: OutboxMessage, now: datetime, exc: SlackApiError) -> None:
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if status != 429 else "ratelimited"
        if status == 429:
            retry = float(exc.response.headers.get("Retry-After", "1"))
            self._reschedule(row, now + timedelta(seconds=retry), error, count=False)
            return
        attempts = row.attempts + 1
        if error in PERMANENT_ERRORS or attempts >= MAX_ATTEMPTS:
            logger.error("outbox message %s parked after %s attempts: %s", row.key, attempts, error)
            self.parked += 1
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
