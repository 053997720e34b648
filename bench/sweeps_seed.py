"""Seeds bench/sweeps.py's database: live and ended environments and grants, with history.

Rows go in with bulk INSERTs, as the jobs would have left them: each live object's
`remind_at` is what the reminders job stores (the next threshold crossing, or None once its
last reminder went out), and every reminder already sent has its outbox row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from bot.db.models import AccessRequest, Environment, Event, OutboxMessage
from bot.policy import Policy

SPREAD = timedelta(days=14)  # live objects expire uniformly over the next two weeks
CHUNK = 5_000


@dataclass(frozen=True)
class Seed:
    """How many live environments and grants (each), and how many environments already due."""

    live: int
    due: int


@dataclass(frozen=True)
class Seeded:
    """What was seeded: objects within the reminder horizon already reminded."""

    reminded: int


def remind_state(
    expires: datetime, now: datetime, before: tuple[timedelta, ...]
) -> tuple[datetime | None, timedelta | None]:
    """(`remind_at`, the threshold already reminded) as the reminders job leaves an object."""
    thresholds = sorted(before)
    crossed = next((t for t in thresholds if expires - t <= now), None)
    if crossed is None:
        return expires - thresholds[-1], None
    smaller = [t for t in thresholds if t < crossed]
    return (expires - smaller[-1] if smaller else None), crossed


def seed(engine: Engine, policy: Policy, what: Seed, now: datetime) -> Seeded:
    """Fill the database; returns how many objects within the horizon were already reminded."""
    before = policy.reminders.before
    envs: list[dict[str, Any]] = []
    grants: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    reminded = 0
    for i in range(what.live):
        expires = now + timedelta(seconds=60 + (i * 7919) % int(SPREAD.total_seconds()))
        remind_at, crossed = remind_state(expires, now, before)
        envs.append(_env(f"e{i:07d}", "READY", now, expires, remind_at))
        envs.append(_env(f"x{i:07d}", "DELETED", now - timedelta(days=2), now, None))
        grants.append(_grant(f"g{i:07d}", "ACTIVE", now, expires, remind_at))
        grants.append(_grant(f"h{i:07d}", "EXPIRED", now - timedelta(days=2), now, None))
        events.append(_event(now, f"e{i:07d}"))
        events.append(_event(now, f"g{i:07d}"))
        if crossed is not None:
            reminded += 2
            for kind, obj in (("env", f"e{i:07d}"), ("access", f"g{i:07d}")):
                left = int(crossed.total_seconds())
                key = f"dm:U0ALICE:remind:{kind}:{obj}:{expires.isoformat()}:{left}"
                outbox.append(_sent(now, key))
    for i in range(what.due):
        envs.append(
            _env(f"d{i:07d}", "READY", now - timedelta(days=3), now - timedelta(minutes=1), None)
        )
    with engine.begin() as conn:
        for model, rows in (
            (Environment, envs),
            (AccessRequest, grants),
            (OutboxMessage, outbox),
            (Event, events),
        ):
            for start in range(0, len(rows), CHUNK):
                conn.execute(insert(model.__table__), rows[start : start + CHUNK])  # type: ignore[attr-defined]
    return Seeded(reminded=reminded)


def _env(
    env_id: str, state: str, at: datetime, expires: datetime, remind_at: datetime | None
) -> dict[str, Any]:
    return {
        "id": env_id, "name": f"bench-{env_id}", "workspace": "sandbox", "template": "dev",
        "kind": "namespace", "backend": "namespace", "owner_id": "U0ALICE",
        "owner_email": "alice@example.com", "created_by": "U0ALICE", "reason": "", "state": state,
        "phase": "", "created_at": at, "updated_at": at, "expires_at": expires, "ready_at": at,
        "finished_at": None, "next_check_at": None, "attempts": 0, "failure": "",
        "decided_by": "", "decided_at": None, "endpoints": {}, "created": True,
        "delete_requested": False, "needs_refresh": False, "failed_while": "", "retry_round": 0,
        "drift": "", "drift_count": 0, "cloud_cleanup": "done", "cloud_passes": 0,
        "cloud_hosts": [], "deleting_since": None, "remind_at": remind_at, "version": 1,
    }  # fmt: skip


def _grant(
    req_id: str, state: str, at: datetime, expires: datetime, remind_at: datetime | None
) -> dict[str, Any]:
    return {
        "id": req_id, "requester_id": "U0ALICE", "subject": "alice@example.com",
        "workspace": "sandbox", "role": "view", "backend": "fake", "duration_s": 3600,
        "reason": "bench", "state": state, "created_at": at, "updated_at": at,
        "pending_until": at + timedelta(hours=1), "decided_by": "U0BOB", "decided_at": at,
        "decision_note": "", "activated_at": at, "expires_at": expires, "finished_at": None,
        "end_reason": "", "next_check_at": None, "attempts": 0, "failure": "", "drift": "",
        "drift_count": 0, "remind_at": remind_at, "version": 1,
    }  # fmt: skip


def _event(now: datetime, obj: str) -> dict[str, Any]:
    return {
        "at": now, "actor": "envbot", "object_type": "env", "object_id": obj,
        "action": "seed", "from_state": "", "to_state": "READY", "detail": {},
    }  # fmt: skip


def _sent(now: datetime, key: str) -> dict[str, Any]:
    return {
        "key": key[:200], "kind": "dm", "channel": "", "user_id": "U0ALICE", "object_type": "",
        "object_id": "", "purpose": "", "thread_purpose": "", "payload": {}, "status": "sent",
        "attempts": 1, "created_at": now, "due_at": now, "sent_at": now, "last_error": "",
    }  # fmt: skip
