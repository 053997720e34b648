"""The outbox drain: sends queued messages with slack-sdk's WebClient, paced per channel.

A row is claimed (`sending`, compare-and-set on its attempts) and committed before the API
call, and marked `sent` after it, so two drains never both send it. A crash in between leaves
it `sending`; the drain resumes those only after `resume_after`, so a slow send on another
replica is not doubled. Slack allows about one message per second per channel: each channel
(posts, thread replies, updates, ephemerals and DMs alike) is timed from its own last send
(`pacing.Pacer`). A single pass (the stepped runner's mode) moves a busy channel's rows'
`due_at` to when it frees and never sleeps; in real time a drain sends to several channels
at once on worker threads and lingers, holding due rows in memory by channel and sleeping
until the next slot (`drain_queues`). A 429 holds its whole channel for Retry-After; 5xx and
lost connections back the row off; a row that keeps failing is parked and counted, never
dropped. DMs are posted to the user id (Slack opens the DM), not via conversations.open.

Every chat.postMessage carries the row's key as message metadata. A post or DM whose earlier
attempt may have reached Slack (a crash while `sending`, a 5xx, a lost answer) is first looked
up in the conversation (`recover.find_posted`), and a found ts is recorded instead of posting
twice. Private answers (`response` rows) go to the interaction's response_url within Slack's
5 uses and 30 minutes, then fall back to an ephemeral in the channel, then to a DM; those are
at least once, since Slack keeps no history of ephemerals to look them up in.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Table, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import OutboxMessage, SlackMessage
from bot.domain.clock import Clock
from bot.slack import card_fallback, response_url
from bot.slack.drain_queues import ChannelQueues
from bot.slack.notify import CARD, DM_PREFIX, dm_purpose
from bot.slack.outbox_metrics import (
    PENDING,
    PERMANENT_ERRORS,
    RATE_LIMITED_TOTAL,
    SENT_TOTAL,
)
from bot.slack.outbox_rows import OUTBOX, RowWriter
from bot.slack.pacing import Pacer
from bot.slack.recover import channel_ids, find_posted, outbox_metadata
from bot.slack.sender import Sender

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
_NAP = timedelta(milliseconds=20)  # least wait for the workspace budget to refill a little
# Core statements (no ORM bulk-update path): a send's own writes are most of its CPU.
_CLAIM = (
    update(OUTBOX)
    .where(
        OUTBOX.c.id == bindparam("row_id"),
        OUTBOX.c.status == bindparam("was_status"),
        OUTBOX.c.status.in_(("pending", "sending")),  # never a row already sent or parked
        OUTBOX.c.attempts == bindparam("was_attempts"),
    )
    .values(
        status="sending",
        due_at=bindparam("claimed"),
        attempts=OUTBOX.c.attempts + 1,
        claimed_at=func.coalesce(OUTBOX.c.claimed_at, bindparam("claimed")),
    )
)
_NEWER = aliased(OutboxMessage, name="newer")
# An update (of a card, or of a DM copy) that a later render of the same message superseded:
# one queued while this one was being sent (so not dropped), e.g. before a failed attempt.
_SUPERSEDED = exists().where(
    _NEWER.kind == "update",
    _NEWER.object_type == OUTBOX.c.object_type,
    _NEWER.object_id == OUTBOX.c.object_id,
    _NEWER.purpose == OUTBOX.c.purpose,
    _NEWER.id > OUTBOX.c.id,
)
# An update is claimed only while it is the newest render: an older one never overwrites it.
_CLAIM_UPDATE = _CLAIM.where(~_SUPERSEDED)
# ... and dropped, as `update_card` drops an older update still pending (not a failure).
_DROP_SUPERSEDED = delete(OUTBOX).where(
    OUTBOX.c.id == bindparam("row_id"),
    OUTBOX.c.status.in_(("pending", "sending")),
    _SUPERSEDED,
)
_SLACK_MESSAGES = cast(Table, SlackMessage.__table__)
_POLL = 0.2  # the longest a lingering drain sleeps before it looks for new rows


class _Wait(Exception):
    """The row cannot be sent yet (its card is not posted); try again later."""


class _Gone(Exception):
    """An update of a DM copy whose DM was never sent (parked, or parked and pruned since):
    there is nothing to update. Settled quietly: the DM's own parking was the alarm."""


class _Retry(Exception):
    """A response_url use failed for now (429, 5xx); back off and use it again."""


class _FallBack(Exception):
    """The response_url is used up, expired or gone: send the answer another way."""


@dataclass(frozen=True)
class _Target:
    """Where a row goes: the limiter's channel key, and the card's channel and ts if it has one."""

    key: str
    channel: str = ""
    ts: str = ""


class OutboxDrain:
    """Sends due outbox rows in order, about one per second per channel; one job at a time.

    With `workers` > 1, sends to different channels run at once on that many threads. With
    `linger` > 0 (real time only: it sleeps), a drain keeps going while some row is due
    within `linger`, sleeping until the next channel frees, for at most `max_run`; with 0 it
    makes one pass at the clock's current time and never sleeps (the stepped runner's mode).
    """

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
        workers: int = 1,
        linger: timedelta = timedelta(0),
        max_run: timedelta = timedelta(minutes=1),
        workspace_rate: float | None = None,
        workspace_burst: int = 1,
    ) -> None:
        self._sessions = sessions
        self._client = _single_shot(client)
        self._rows = RowWriter(sessions)
        self._channel_ids: dict[str, str] = {}
        self._clock = clock
        self._batch = batch
        self._max_batches = max_batches
        self._resume_after = resume_after
        self._pacer = Pacer(per_channel, workspace_rate, workspace_burst)
        self._workers = workers
        self._linger = linger
        self._max_run = max_run
        self._stopping = threading.Event()
        self._dm_channels: dict[str, str] = {}
        # A posted name (`#platform`) → the id Slack answered with, so a card's thread
        # replies and updates (which know only the id) share the name's limiter slot.
        self._aliases: dict[str, str] = {}

    def stop_lingering(self) -> None:
        """From now on make single passes (shutdown): a run lingering now returns within a
        fraction of a second, after the sends under way."""
        self._stopping.set()

    @property
    def parked(self) -> int:
        """How many rows this drain parked."""
        return self._rows.parked

    def drain(self) -> int:
        """Send every due row whose channel is free.

        Without `linger`, one pass at the clock's time: rows are read in batches by
        (due_at, id), and a busy channel's rows move to when it frees, out of the due set, so
        the next batch reaches other channels (one channel's backlog never starves the rest,
        up to `max_batches` batches). With `linger`, see `_linger`.

        Returns:
            How many rows were sent.
        """
        with Sender(self._workers) as sender:
            if self._linger <= timedelta(0) or self._stopping.is_set():
                now = self._clock.now()
                for _ in range(self._max_batches):
                    rows = self._due(now)
                    moved = self._drain_batch(rows, now, sender)
                    if len(rows) < self._batch or moved == 0:
                        break
            else:
                self._linger_loop(sender)
        self._update_pending_gauge()
        return sender.sent

    def _linger_loop(self, sender: Sender) -> None:
        """Real time: hold the due rows in memory by channel and send each channel's next at
        its slot, sleeping in between, while something is due within `linger` (at most
        `max_run`). Waiting rows are not written to; the table keeps them due."""
        started = self._clock.now()
        queues: ChannelQueues[tuple[OutboxMessage, _Target]] = ChannelQueues()
        while True:
            now = self._clock.now()
            self._queue_due(now, queues)
            waits = self._start_heads(now, queues, sender)
            now = self._clock.now()
            if now - started >= self._max_run or self._stopping.is_set():
                return
            later = self._next_pending_after(now)
            soon = [m for m in [*waits, *([later] if later else [])] if m <= now + self._linger]
            if not soon and not len(queues) and not sender.busy:
                return
            # a short nap at most: a row queued meanwhile for a free channel goes soon
            sender.wait(min(_seconds(min(soon) - now), _POLL) if soon else _POLL)

    def _queue_due(
        self, now: datetime, queues: ChannelQueues[tuple[OutboxMessage, _Target]]
    ) -> None:
        """Queue the due rows not held yet, in (due_at, id) order."""
        unknown = queues.unknown(self._due_ids(now))
        for row in self._load(unknown, now):
            try:
                target = self._target(row)
            except _Wait:
                self._reschedule(row, now + timedelta(seconds=1), "waiting for the card")
                continue
            except _Gone as exc:
                self._rows.moot(row, str(exc))
                continue
            queues.push(target.key, row.id, (row, target))

    def _start_heads(
        self,
        now: datetime,
        queues: ChannelQueues[tuple[OutboxMessage, _Target]],
        sender: Sender,
    ) -> list[datetime]:
        """Send the head row of every free channel; when the busy ones free."""
        waits: list[datetime] = []
        for key in queues.heads():
            if sender.saturated:  # hold the rest until a worker is free (it wakes the loop)
                waits.append(now + self._linger)
                break
            workspace = self._pacer.workspace_free_at(now)
            if workspace is not None:  # the workspace's budget is spent: let a few accrue
                waits.append(max(workspace, now + _NAP))
                break
            busy = self._pacer.start(key, now)
            if busy is not None:
                waits.append(busy)
                continue
            row, target = queues.pop(key)
            sender.submit(self._claim_and_send, row, target, queues)
        return waits

    def _due_ids(self, now: datetime) -> list[int]:
        with self._sessions() as s:
            return list(
                s.scalars(
                    select(OutboxMessage.id)
                    .where(self._due_clause(now))
                    .order_by(OutboxMessage.due_at, OutboxMessage.id)
                    .limit(self._batch * self._max_batches)
                )
            )

    def _load(self, ids: list[int], now: datetime) -> list[OutboxMessage]:
        """The rows of `ids` that are still due (one may have been sent since its id was read)."""
        if not ids:
            return []
        with self._sessions() as s:
            query = select(OutboxMessage).where(OutboxMessage.id.in_(ids), self._due_clause(now))
            found = {r.id: r for r in s.scalars(query)}
        return [found[i] for i in ids if i in found]

    def _next_pending_after(self, now: datetime) -> datetime | None:
        with self._sessions() as s:
            return s.scalar(
                select(func.min(OutboxMessage.due_at)).where(
                    OutboxMessage.status == "pending", OutboxMessage.due_at > now
                )
            )

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
                    .where(self._due_clause(now))
                    .order_by(OutboxMessage.due_at, OutboxMessage.id)
                    .limit(self._batch)
                ).all()
            )

    def _due_clause(self, now: datetime) -> ColumnElement[bool]:
        return or_(
            (OutboxMessage.status == "pending") & (OutboxMessage.due_at <= now),
            (OutboxMessage.status == "sending")
            & (OutboxMessage.due_at <= now - self._resume_after),
        )

    def _drain_batch(self, rows: list[OutboxMessage], now: datetime, sender: Sender) -> int:
        """Start or defer one batch's rows; returns how many left the due set."""
        moved = 0
        deferred: dict[datetime, list[int]] = defaultdict(list)
        for row in rows:
            try:
                target = self._target(row)
            except _Wait:
                self._reschedule(row, now + timedelta(seconds=1), "waiting for the card")
                moved += 1
                continue
            except _Gone as exc:
                self._rows.moot(row, str(exc))
                moved += 1
                continue
            busy = self._pacer.start(target.key, self._clock.now())  # not the pass's start
            if busy is None:
                sender.submit(self._claim_and_send, row, target)
                moved += 1
            elif row.status == "pending":
                # moved to when its channel frees: out of the due set, and after the rows
                # queued before it for that channel
                deferred[busy].append(row.id)
                moved += 1
        self._defer(deferred)
        return moved

    def _claim_and_send(
        self,
        row: OutboxMessage,
        target: _Target,
        queues: ChannelQueues[tuple[OutboxMessage, _Target]] | None = None,
    ) -> int:
        try:
            if not self._claim(row, self._clock.now()):
                return 0  # another drain took it
            return self._send_one(row, target, self._clock.now())
        finally:
            self._pacer.done(target.key)
            if queues is not None:
                queues.finished(row.id)

    def _target(self, row: OutboxMessage) -> _Target:
        if row.kind == "update":  # the card, or a DM copy of it (its purpose names which)
            channel, ts = self._card(row, row.purpose or CARD)
            if row.purpose.startswith(DM_PREFIX):  # a DM copy: paced with that user's DMs
                return _Target(row.purpose, channel, ts)
            return _Target(self._key(channel), channel, ts)
        if row.kind == "dm":
            return _Target(dm_purpose(row.user_id))
        if row.kind == "response":  # a webhook, not a channel post: no channel limit
            return _Target(f"response:{row.id}")
        if row.kind == "post" and row.thread_purpose:
            channel, parent = self._card(row, row.thread_purpose)
            return _Target(self._key(channel), channel, parent)
        return _Target(self._key(row.channel))

    def _key(self, channel: str) -> str:
        return self._aliases.get(channel, channel)

    def _claim(self, row: OutboxMessage, now: datetime) -> bool:
        # Compare-and-set on (status, attempts): a second drain holding the same stale row
        # matches nothing once the first has claimed it, so one send per claim.
        update_row = row.kind == "update"
        with self._rows.writing() as s:
            result = s.connection().execute(
                _CLAIM_UPDATE if update_row else _CLAIM,
                {
                    "row_id": row.id,
                    "was_status": row.status,
                    "was_attempts": row.attempts,
                    "claimed": now,
                },
            )
            if not result.rowcount and update_row:  # superseded, or another drain took it
                s.connection().execute(_DROP_SUPERSEDED, {"row_id": row.id})
            return bool(result.rowcount)

    def _send_one(self, row: OutboxMessage, target: _Target, now: datetime) -> int:
        try:
            channel, ts = self._send(row, target, now)
        except SlackApiError as exc:
            self._failed(row, target, now, exc)
            return 0
        except _FallBack as exc:
            self._rows.fall_back(row, "ephemeral" if row.channel else "dm", str(exc), now)
            return 0
        except (_Retry, OSError) as exc:
            # No answer (refused, reset, timed out) is an attempt too: it may have landed,
            # so a post's next attempt looks it up first.
            self._retry(row, now, _describe(exc))
            return 0
        done: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": ""}
        if row.kind == "response":
            done["response_url"] = response_url.spent(row.response_url)
        with self._rows.writing() as s:
            s.connection().execute(update(OUTBOX).where(OUTBOX.c.id == row.id).values(**done))
            if row.purpose and row.kind in ("post", "dm") and ts:  # a card, or its DM fallback
                s.connection().execute(
                    insert(_SLACK_MESSAGES).values(
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

    def _send(self, row: OutboxMessage, target: _Target, now: datetime) -> tuple[str, str]:
        payload: dict[str, Any] = dict(row.payload)
        if row.kind == "update":
            if row.purpose == CARD and target.channel.startswith("D"):  # fell back to a DM
                payload = card_fallback.keep_note(self._sessions, row, payload)
            self._client.chat_update(channel=target.channel, ts=target.ts, **payload)
            return target.channel, target.ts
        if row.kind == "response":
            self._respond(row, payload, now)
            return row.channel, ""
        for hook_only in ("replace_original", "response_type"):  # a response row fallen back
            payload.pop(hook_only, None)
        if row.kind == "ephemeral":
            resp = self._client.chat_postEphemeral(channel=row.channel, user=row.user_id, **payload)
            return row.channel, str(resp.get("message_ts", ""))
        if row.kind == "dm":  # to the user id: Slack opens the DM (no conversations.open)
            channel, thread = self._dm_channels.get(row.user_id, row.user_id), ""
        elif row.thread_purpose:
            channel, thread = target.channel, target.ts
        else:
            channel, thread = row.channel, ""
        found = self._posted_before(row, channel, thread)
        if found is not None:
            return found
        args: dict[str, Any] = {"channel": channel, "metadata": outbox_metadata(row.key)}
        if thread:
            args["thread_ts"] = thread
        resp = self._client.chat_postMessage(**args, **payload)
        posted = str(resp["channel"])
        if posted != channel and channel.startswith("#"):
            self._aliases[posted] = channel
            self._channel_ids[channel] = posted
        if row.kind == "dm":
            self._dm_channels[row.user_id] = posted
        return posted, str(resp["ts"])

    def _posted_before(
        self, row: OutboxMessage, channel: str, thread: str
    ) -> tuple[str, str] | None:
        """(channel id, ts) of this row's message if an earlier attempt reached Slack."""
        if row.attempts == 0 or row.claimed_at is None:
            return None  # never tried: nothing to find
        channel_id = self._channel_id(channel)
        if channel_id is None:
            return None  # no such channel: the post answers channel_not_found
        ts = find_posted(self._client, channel_id, row.key, row.claimed_at, thread)
        if ts is None:
            return None
        logger.info(
            "outbox message %s was already in Slack (ts %s); not posting it again", row.key, ts
        )
        return channel_id, ts

    def _channel_id(self, channel: str) -> str | None:
        if channel.startswith(("U", "W")):  # a DM by user id: history needs the D… id
            return self._dm_channel(channel)
        if not channel.startswith("#"):
            return channel
        if channel not in self._channel_ids:
            self._channel_ids.update(channel_ids(self._client))
            for name, cid in list(self._channel_ids.items()):  # workers may add meanwhile
                self._aliases.setdefault(cid, name)
        return self._channel_ids.get(channel)

    def _respond(self, row: OutboxMessage, payload: dict[str, Any], now: datetime) -> None:
        if now - row.created_at >= response_url.USABLE_FOR:
            raise _FallBack("the response_url expired (30 minutes)")
        if self._uses(row, now) > response_url.MAX_USES:
            raise _FallBack("the response_url was used 5 times")
        try:
            status, text = response_url.post_response(row.response_url, payload)
        except response_url.BadResponseUrl as exc:
            raise _FallBack(str(exc)) from exc
        if response_url.temporary(status):
            raise _Retry(f"response_url HTTP {status}")
        if status != 200:
            raise _FallBack(f"response_url answered HTTP {status} {text[:40]}")

    def _uses(self, row: OutboxMessage, now: datetime) -> int:
        """Posts to this row's response_url so far, this attempt included (every attempt counts:
        Slack may have taken one whose answer was lost)."""
        with self._sessions() as s:
            used = s.scalar(
                select(func.sum(OutboxMessage.attempts)).where(
                    OutboxMessage.kind == "response",
                    OutboxMessage.response_url.in_(
                        (row.response_url, response_url.spent(row.response_url))
                    ),
                    OutboxMessage.created_at >= now - response_url.LIFETIME,
                )
            )
        return int(used or 0)

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
            if purpose != CARD and self._dm_gone(row, purpose):
                raise _Gone(f"its DM ({purpose}) was never sent")
            raise _Wait
        return ref.channel, ref.ts

    def _dm_gone(self, row: OutboxMessage, purpose: str) -> bool:
        """Whether the DM an update of a copy waits for will never be sent: parked, or no longer
        there (the DM row is queued in the transaction that records its recipient, before any
        update of the copy, so only retention removes it: a pruned row was parked, since a
        sent one left its `slack_messages` row)."""
        with self._sessions() as s:
            status = s.scalar(
                select(OutboxMessage.status).where(
                    OutboxMessage.kind == "dm",
                    OutboxMessage.object_type == row.object_type,
                    OutboxMessage.object_id == row.object_id,
                    OutboxMessage.purpose == purpose,
                )
            )
        return status is None or status == "parked"

    def _dm_channel(self, user_id: str) -> str:
        """The DM's id, for a lookup only (posts go to the user id)."""
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
            self._pacer.hold(target.key, now + retry)
            self._rows.reschedule(row, now + retry, error, count=False)
            return
        if row.kind == "ephemeral" and error in response_url.EPHEMERAL_UNREACHABLE:
            self._rows.fall_back(row, "dm", f"chat.postEphemeral answered {error}", now)
            return
        if card_fallback.applies(row, error):
            reason = f"chat.postMessage to {row.channel} answered {error}"
            self._rows.fall_back(row, "dm", reason, now, card_fallback.dm_payload(row))
            return
        if error == "missing_scope":
            needed = exc.response.get("needed")
            hint = (
                f" (the bot token lacks the {needed} scope: add it to the app as manifest.yaml"
                " lists it, and reinstall)"
            )
            self._rows.park(row, row.attempts + 1, f"missing_scope {needed}", hint)
            return
        if error in PERMANENT_ERRORS:
            self._rows.park(row, row.attempts + 1, error)
            return
        self._retry(row, now, error or f"HTTP {status}")

    def _retry(self, row: OutboxMessage, now: datetime, error: str) -> None:
        attempts = row.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self._rows.park(row, attempts, error)
            return
        backoff = min(2**attempts, 300)
        self._rows.reschedule(row, now + timedelta(seconds=backoff), error, count=True)

    def _reschedule(self, row: OutboxMessage, due: datetime, error: str) -> None:
        self._rows.reschedule(row, due, error, count=True)

    def _defer(self, deferred: dict[datetime, list[int]]) -> None:
        """Move rows whose channel is busy to when it frees: one UPDATE per moment."""
        if not deferred:
            return
        with self._rows.writing() as s:
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


def _single_shot(client: WebClient) -> WebClient:
    """`client` without slack_sdk's automatic retry of a lost connection: a post whose answer
    was lost may have landed, and only the drain, which looks it up first, may send it again."""
    single = copy.copy(client)  # the listeners keep the shared client's retries
    single.retry_handlers = []
    return single


def _seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0)


def _describe(exc: Exception) -> str:
    if isinstance(exc, _Retry):
        return str(exc)
    return f"no answer from Slack ({type(exc).__name__})"
