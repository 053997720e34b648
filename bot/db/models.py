"""SQLAlchemy 2.0 models: environments, access requests, audit trail, Slack refs, outbox, inbound.

The schema changes only through Alembic (`migrations/`); `alembic check` keeps the two in step.
"""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, synonym

from bot.db.types import UTCDateTime

_ALPHABET = "abcdefghjkmnpqrstvwxyz23456789"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_source: random.Random = secrets.SystemRandom()


def seed_ids(source: random.Random) -> None:
    """Use `source` for new ids (the demo seeds it so tours can name request ids)."""
    global _source
    _source = source


def new_id(prefix: str, length: int = 5) -> str:
    """A short, readable id such as `r7k2qm` (prefix + random letters/digits). Ids are not
    secrets: every button press and command is authorized on the server side."""
    return prefix + "".join(_source.choice(_ALPHABET) for _ in range(length))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Tracked:
    """The columns every workflow object has, so the lifecycle kernel can move any of them.

    Each model maps them itself (its own lengths, defaults and indexes); this mixin only
    names them for the type checker and the kernel.
    """

    id: Mapped[str]
    state: Mapped[str]
    version: Mapped[int]
    updated_at: Mapped[datetime]
    next_check_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    decided_by: Mapped[str]
    decided_at: Mapped[datetime | None]
    attempts: Mapped[int]
    failure: Mapped[str]
    drift: Mapped[str]
    drift_count: Mapped[int]
    workspace: Mapped[str]  # whose owners decide
    backend: Mapped[str]  # which backend holds its objects
    # How answers name the object, who asked for it, and who holds it now (for reminders).
    label: Mapped[str]
    requester_id: Mapped[str]
    holder_id: Mapped[str]
    # N of M approvals (bot/lifecycle/votes.py): what the card shows of them, when the request
    # escalates if nobody decided (None: never, or done), and when it did.
    approval: Mapped[dict[str, Any]]
    escalate_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]


def _due_indexes(table: str) -> tuple[Index, Index, Index, Index]:
    """The jobs' queries on every workflow table: by state and expiry, by state and next
    check, by state and next reminder, by state and escalation
    (tests/scenario/test_due_query_plans.py checks them)."""
    return (
        Index(f"ix_{table}_state_expires_at", "state", "expires_at"),
        Index(f"ix_{table}_state_next_check_at", "state", "next_check_at"),
        Index(f"ix_{table}_state_remind_at", "state", "remind_at"),
        Index(f"ix_{table}_state_escalate_at", "state", "escalate_at"),
    )


# `remind_at` when the reminders job must look at an object again (its expiry changed): a
# moment always in the past, so the next pass works out the object's next reminder.
REMIND_NOW = datetime(2000, 1, 1, tzinfo=UTC)


LIVE_STATES_SQL = (
    "state IN ('REQUESTED', 'PENDING_APPROVAL', 'PROVISIONING', 'READY', 'DELETING', 'FAILED')"
)
# A name stays reserved while its environment may hold objects, and after DELETED until the
# cloud cleanup of a cluster has finished (its leftovers are found by the cluster's name).
RESERVED_NAME_SQL = (
    f"{LIVE_STATES_SQL} OR (state = 'DELETED' AND kind = 'cluster' AND cloud_cleanup = 'pending')"
)


class Environment(Tracked, Base):
    """A cluster or namespace created from a template; its name is unique per install."""

    __tablename__ = "environments"
    __table_args__ = (
        *_due_indexes("environments"),
        Index("ix_environments_owner_id_state", "owner_id", "state"),
        Index("ix_environments_workspace_name", "workspace", "name"),
        # A name is unique in this install (every workspace) while it is reserved: the
        # environment may hold objects, or its cloud cleanup is pending. The partial unique
        # index makes two concurrent creates of one name race-free on both databases.
        Index(
            "uq_environments_reserved_name",
            "name",
            unique=True,
            sqlite_where=text(RESERVED_NAME_SQL),
            postgresql_where=text(RESERVED_NAME_SQL),
        ),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    workspace: Mapped[str] = mapped_column(String(63))
    template: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    backend: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[str] = mapped_column(String(32))
    owner_email: Mapped[str] = mapped_column(String(254))
    created_by: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(24))
    phase: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ready_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(32), default="")
    decided_at: Mapped[datetime | None]
    endpoints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Where the reconcile job stands with the backend (each set only after the call succeeded).
    created: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    delete_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Owner or expiry changed: re-apply so the objects' labels and annotations follow.
    needs_refresh: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The state a FAILED environment failed in ("provisioning" or "deleting").
    failed_while: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # How many times it was (re)started; phases are posted once per round.
    retry_round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What drifted, while it stays drifted ("" when the objects match); one report per episode.
    drift: Mapped[str] = mapped_column(Text, default="", server_default="")
    drift_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Cloud cleanup after DELETED: "pending" until done (or given up), and how many passes ran.
    cloud_cleanup: Mapped[str] = mapped_column(
        String(16), default="pending", server_default="pending"
    )
    cloud_passes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # DNS names of its load balancers (recorded before they go) and its ingress host: the
    # cleanup deletes only records pointing at them.
    cloud_hosts: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))
    # When the current deletion started (the stuck-in-DELETING report counts from it).
    deleting_since: Mapped[datetime | None]
    # When the reminders job next has something to do for it (None: nothing before its expiry
    # changes); every change of `expires_at` sets it to REMIND_NOW.
    remind_at: Mapped[datetime | None]
    # N of M approvals: the card's view of them (bot/lifecycle/approval_view.py), when an
    # undecided request escalates (None: never, or done) and when it did.
    approval: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    escalate_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    label: Mapped[str] = synonym("name")
    requester_id: Mapped[str] = synonym("created_by")
    holder_id: Mapped[str] = synonym("owner_id")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API


class AccessRequest(Tracked, Base):
    """A request for a role in a workspace; once approved it is the grant, until revoked."""

    __tablename__ = "access_requests"
    __table_args__ = (
        *_due_indexes("access_requests"),
        Index("ix_access_requests_requester_id_state", "requester_id", "state"),
        Index("ix_access_requests_subject", "subject", "workspace", "role", "state"),
        Index("ix_access_requests_state_pending_until", "state", "pending_until"),
        Index("ix_access_requests_review_next_at", "review_next_at"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    requester_id: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(254))  # the OIDC user, the requester's email
    workspace: Mapped[str] = mapped_column(String(63))
    role: Mapped[str] = mapped_column(String(63))
    backend: Mapped[str] = mapped_column(String(32))
    duration_s: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    pending_until: Mapped[datetime]
    decided_by: Mapped[str] = mapped_column(String(32), default="")
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="")
    activated_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    end_reason: Mapped[str] = mapped_column(String(24), default="")
    next_check_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str] = mapped_column(Text, default="")
    # What drifted, while it stays drifted ("" when the objects match); one report per episode.
    drift: Mapped[str] = mapped_column(Text, default="", server_default="")
    drift_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    remind_at: Mapped[datetime | None]  # as on Environment
    # Break-glass: granted without approval; an owner reviews it by `review_due_at`. The review
    # job next looks at it at `review_next_at` (reminder, then escalation; None once done).
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    review_due_at: Mapped[datetime | None]
    review_next_at: Mapped[datetime | None]
    reviewed_by: Mapped[str] = mapped_column(String(32), default="", server_default="")
    reviewed_at: Mapped[datetime | None]
    # N of M approvals: the card's view of them (bot/lifecycle/approval_view.py), when an
    # undecided request escalates (None: never, or done) and when it did.
    approval: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    escalate_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    label: Mapped[str] = synonym("id")
    holder_id: Mapped[str] = synonym("requester_id")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API


def rearm_reminders_on_expiry_change(model: Any) -> None:
    """Make every new `expires_at` of `model` (a workflow with reminders) re-arm all its
    reminder thresholds: `remind_at` becomes REMIND_NOW and the next reminders pass looks."""

    def rearm(target: Tracked, value: object, old: object, _initiator: object) -> None:
        if value != old:
            target.remind_at = REMIND_NOW

    event.listen(model.expires_at, "set", rearm)


rearm_reminders_on_expiry_change(Environment)
rearm_reminders_on_expiry_change(AccessRequest)


class ApprovalVote(Base):
    """One approver's Approve on a pending object; unique per object and approver, so a
    double click or a second approval by the same person is refused by the database too."""

    __tablename__ = "approval_votes"
    __table_args__ = (UniqueConstraint("object_type", "object_id", "approver"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(16))
    approver: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]


class Event(Base):
    """The append-only audit trail: who did what to which object, from which state to which."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_at", "at"),
        Index("ix_events_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str] = mapped_column(String(24), default="")
    to_state: Mapped[str] = mapped_column(String(24), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SlackMessage(Base):
    """Where an object's card (or a DM about it) was posted, so it can be updated and threaded."""

    __tablename__ = "slack_messages"
    __table_args__ = (UniqueConstraint("object_type", "object_id", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """A Slack message to send; its unique key means a crash never loses or doubles it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due_at", "status", "due_at"),
        Index("ix_outbox_created_at", "created_at"),
        Index("ix_outbox_object", "object_type", "object_id"),
        Index("ix_outbox_status_created_at", "status", "created_at"),  # retention
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # post | update | dm | ephemeral | response
    channel: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[str] = mapped_column(String(32), default="")
    object_type: Mapped[str] = mapped_column(String(16), default="")
    object_id: Mapped[str] = mapped_column(String(16), default="")
    purpose: Mapped[str] = mapped_column(String(32), default="")
    thread_purpose: Mapped[str] = mapped_column(String(32), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    # A `response` row's hook: a credential, never logged. First claim: a crash-recovery
    # lookup searches Slack's history from a little before it.
    response_url: Mapped[str] = mapped_column(Text, default="", server_default="")
    claimed_at: Mapped[datetime | None]


class InboundKey(Base):
    """A Slack delivery already handled (event id, retry, or action id + ts), for dedupe."""

    __tablename__ = "inbound"
    __table_args__ = (Index("ix_inbound_received_at", "received_at"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime]


class Offboarding(Base):
    """A deactivated user whose grants and environments are being handed back: committed when
    Slack says so, worked off by the offboarding job until `done_at` (a crash or a Slack fault
    midway leaves it due, and the next run goes on from where the last one stopped)."""

    __tablename__ = "offboardings"
    __table_args__ = (Index("ix_offboardings_due_at", "due_at"),)

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime | None]  # None once done
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class InboxRow(Base):
    """An acknowledged Slack request not yet worked (`bot/services/inbox.py`): written with the
    dedupe key before the ack, deleted in the transaction of the work's first write."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_claimed_until", "claimed_until"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    claimed_until: Mapped[datetime]
    run_id: Mapped[str | None] = mapped_column(String(32), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Install(Base):
    """This install's identity, one row written once by `envbot migrate`: its id labels every
    object envbot writes, so two installs sharing a cluster never touch each other's."""

    __tablename__ = "install"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    install_id: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime]


__all__ = [
    "AccessRequest",
    "ApprovalVote",
    "Base",
    "Environment",
    "Event",
    "InboundKey",
    "Install",
    "Offboarding",
    "OutboxMessage",
    "SlackMessage",
    "new_id",
]
