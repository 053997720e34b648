"""The state move every workflow makes: table transition, audit row and card refresh in one
transaction, plus the compare-and-set UPDATE behind every decision button."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Generic

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.bulk import pending
from bot.db.versioned import changed
from bot.errors import InvalidTransition, NotFound
from bot.lifecycle import dm_copies
from bot.lifecycle.audit import record
from bot.lifecycle.batch import chunks, sweep_chunk
from bot.lifecycle.workflow import T, Workflow
from bot.slack.blocks import Message, text_message
from bot.slack.notify import Notifier

SYSTEM = "envbot"
TIME_OUT = "time_out"  # the event every workflow's table has for an undecided request
MAX_BACKOFF = 900.0  # seconds between two attempts at most


class Lifecycle(Generic[T]):
    """One workflow's moves: every state change of its objects goes through here."""

    def __init__(self, workflow: Workflow[T], notifier: Notifier) -> None:
        self.workflow = workflow
        self.notifier = notifier

    def ref(self, obj: T) -> tuple[str, str]:
        """The object's key in the outbox (its card and thread)."""
        return (self.workflow.kind, obj.id)

    def can(self, obj: T, event: str) -> bool:
        """Whether the table has a move for `event` from the object's state."""
        try:
            self.workflow.machine.next(obj.state, event)
        except InvalidTransition:
            return False
        return True

    def move(
        self,
        s: Session,
        obj: T,
        event: str,
        actor: str,
        now: datetime,
        *,
        as_action: str = "",
        **detail: object,
    ) -> None:
        """Apply one event: new state, audit row (action `as_action`, default the event), and
        the card re-rendered in place.

        Raises:
            InvalidTransition: the table has no such move from the current state.
        """
        before = obj.state
        obj.state = self.workflow.machine.next(before, event)
        obj.updated_at = now
        obj.next_check_at = now
        self.workflow.on_move(obj, before, event)
        self.audit(s, obj, as_action or event, actor, now, from_state=before, **detail)
        self.refresh(s, obj, now)

    def audit(
        self,
        s: Session,
        obj: T,
        action: str,
        actor: str,
        now: datetime,
        *,
        from_state: str | None = None,
        **detail: object,
    ) -> None:
        """One audit row about the object (a move, or a change that keeps its state)."""
        record(
            s,
            at=now,
            actor=actor,
            object_type=self.workflow.kind,
            object_id=obj.id,
            action=action,
            from_state=obj.state if from_state is None else from_state,
            to_state=obj.state,
            **detail,
        )

    def open(
        self, s: Session, obj: T, action: str, actor: str, now: datetime, **detail: object
    ) -> None:
        """Add a new object with the audit row of its request (no card yet)."""
        s.add(obj)
        self.audit(s, obj, action, actor, now, from_state="", **detail)

    def post_card(
        self, s: Session, obj: T, channel: str, now: datetime, requester: str = ""
    ) -> None:
        """Post the object's card once; every later change re-renders it in place. A card the
        bot cannot post in `channel` goes to `requester` as a DM."""
        self.notifier.card(
            s,
            now=now,
            obj=self.ref(obj),
            channel=channel,
            message=self.workflow.card(obj, now),
            requester=requester,
        )

    def refresh(self, s: Session, obj: T, now: datetime) -> None:
        """Queue the card's re-render from the object's current state, and of each DM copy of
        it (`dm_copies`)."""
        if pending(s) is None:
            s.flush()
            version = obj.version
        else:  # a batch flushes once, at its end, and that flush adds one to the version
            version = obj.version + 1 if changed(obj) else obj.version
        card = self.workflow.card(obj, now)
        self.notifier.update_card(s, now=now, obj=self.ref(obj), version=version, message=card)
        dm_copies.refresh(self.notifier, s, self.ref(obj), obj, card, version, now)

    def thread(self, s: Session, obj: T, key: str, now: datetime, text: str) -> bool:
        """Reply once (per `key`) in the object's card thread."""
        return self.notifier.thread(
            s, now=now, obj=self.ref(obj), key=key, message=text_message(text)
        )

    def dm(self, s: Session, user_id: str, key: str, now: datetime, message: Message | str) -> None:
        """Send a user one direct message about the object (once per `key`)."""
        if isinstance(message, str):
            message = text_message(message)
        self.notifier.dm(s, now=now, user_id=user_id, key=key, message=message)

    def dm_copy(self, s: Session, obj: T, user_id: str, key: str, now: datetime) -> bool:
        """DM a user their copy of the object's card (once per user), kept in step with the
        card by `refresh`. Returns False when they already have one."""
        card = self.workflow.card(obj, now)
        return dm_copies.send(self.notifier, s, self.ref(obj), obj, card, user_id, key, now)

    def get(self, sessions: sessionmaker[Session], obj_id: str) -> T | None:
        """The object as it is now, or None."""
        with sessions() as s:
            return s.get(self.workflow.model, obj_id)

    def locked(self, s: Session, obj_id: str) -> T:
        """The object, locked for this transaction.

        Raises:
            NotFound: there is no such object.
        """
        obj = s.get(self.workflow.model, obj_id, with_for_update=True)
        if obj is None:
            raise NotFound(f'no {self.workflow.kind} with id "{obj_id}"')
        return obj

    def reload(self, s: Session, obj_id: str) -> T:
        """The object as this transaction sees it now (after a bulk UPDATE).

        Raises:
            NotFound: there is no such object.
        """
        obj = s.get(self.workflow.model, obj_id, populate_existing=True)
        if obj is None:
            raise NotFound(f'no {self.workflow.kind} with id "{obj_id}"')
        return obj

    def sweep(
        self,
        sessions: sessionmaker[Session],
        ids: Iterable[str],
        event: str,
        now: datetime,
        then: Callable[[Session, T], None],
        still_due: Callable[[T], bool] = lambda obj: True,
        **changes: object,
    ) -> int:
        """Move each object on `event` (a job's pass), after setting `changes` on it, then let
        `then` add its messages; objects that moved on meanwhile are skipped. One transaction
        per batch, one savepoint per object: a failing object is rolled back alone.

        Returns:
            How many objects moved.
        """

        def one(s: Session, obj: T) -> bool:
            if not self.can(obj, event) or not still_due(obj):
                return False
            for name, value in changes.items():
                setattr(obj, name, value)
            self.move(s, obj, event, SYSTEM, now)
            then(s, obj)
            return True

        what = f"{self.workflow.kind} {event}"
        model = self.workflow.model
        return sum(sweep_chunk(sessions, model, chunk, one, what) for chunk in chunks(list(ids)))

    def time_out(
        self,
        sessions: sessionmaker[Session],
        ids: Iterable[str],
        now: datetime,
        dm_text: Callable[[T], str],
    ) -> int:
        """Time out each pending object nobody decided on: card, thread, and a DM to its holder.

        Returns:
            How many timed out.
        """

        def tell(s: Session, obj: T) -> None:
            self.thread(s, obj, "timed-out", now, "Timed out: no owner decided in time")
            self.dm(s, obj.holder_id, f"timeout:{obj.id}", now, dm_text(obj))

        return self.sweep(sessions, ids, TIME_OUT, now, tell)

    def retry_later(self, s: Session, obj: T, error: str, retry_after: float, now: datetime) -> int:
        """Count one more failed attempt and back off (linearly, at most 15 minutes).

        Returns:
            The number of attempts so far; the workflow decides when that is too many.
        """
        obj.attempts += 1
        obj.failure = error
        obj.next_check_at = now + timedelta(seconds=min(retry_after * obj.attempts, MAX_BACKOFF))
        return obj.attempts

    def compare_and_set(self, s: Session, obj_id: str, expected: str, **values: Any) -> bool:
        """Move `obj_id` out of state `expected` with one conditional UPDATE; False if another
        transaction got there first (a double click, two owners at once). Bumps the version."""
        model: Any = self.workflow.model
        result = s.execute(
            update(model)
            .where(model.id == obj_id, model.state == expected)
            .values(version=model.version + 1, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
