"""Applies and removes grants through the access backends; only the access jobs call it.

Each step commits the state it starts from before calling a backend, and commits the result
after, so a crash leaves a state the next job pass picks up (APPROVED is applied again,
REVOKING is revoked again). Grants own their objects, so overlapping grants never cut each
other short.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.access import render
from bot.access.auto_approve import approved_words
from bot.access.spec import grant_spec
from bot.access.workflow import ACCESS
from bot.db.models import AccessRequest
from bot.domain.durations import format_duration
from bot.domain.states import AccessEvent, AccessState
from bot.errors import PermanentError, TemporaryError
from bot.lifecycle.backends import BackendUseCases
from bot.lifecycle.context import Context
from bot.lifecycle.moves import SYSTEM
from bot.slack.acted import slack_time
from bot.slack.blocks import message
from provisioning.base import AccessBackend, GrantSpec

MAX_GRANT_ATTEMPTS = 8
REVOKE_ALERT_AFTER = 3
# Said in the card's thread, which the whole channel reads: third person.
ENDED_WORDS = {
    "expired": "expired",
    "offboarded": "was revoked (the requester's Slack account was deactivated)",
}


class GrantWorker(BackendUseCases[AccessRequest, AccessBackend, GrantSpec]):
    """Moves grants APPROVED->ACTIVE and REVOKING->EXPIRED|REVOKED through their backend."""

    def __init__(self, ctx: Context, backends: Mapping[str, AccessBackend]) -> None:
        super().__init__(
            ctx, ACCESS, backends, lambda req, policy: grant_spec(req, policy, ctx.install_id)
        )

    # -- activation -------------------------------------------------------------------------

    def activate(self, req_id: str) -> None:
        """Apply an APPROVED grant; its clock starts now, at ACTIVE."""
        req = self.life.get(self.sessions, req_id)
        if req is None or req.state != AccessState.APPROVED:
            return
        try:
            self.backend(req.backend).grant(self.spec(req))
        except TemporaryError as exc:
            self._temporary(req_id, exc)
            return
        except PermanentError as exc:
            self.transition(req_id, AccessEvent.FAIL, SYSTEM, failure=str(exc))
            return
        now = self.clock.now()
        with self.sessions.begin() as s:
            fresh = s.get(AccessRequest, req_id, with_for_update=True)
            if fresh is None or fresh.state != AccessState.APPROVED:
                return
            fresh.activated_at = now
            fresh.expires_at = now + timedelta(seconds=fresh.duration_s)
            fresh.attempts = 0
            fresh.failure = ""
            self.life.move(s, fresh, AccessEvent.ACTIVATE, SYSTEM, now)
            until = slack_time(fresh.expires_at)
            self.life.thread(s, fresh, f"active:{fresh.version}", now, f"Granted until {until}")
            intro = (
                f"Your request `{fresh.id}` was {approved_words(fresh)}. "
                f"It ends {until} ({format_duration(fresh.expires_at - now)})."
            )
            blocks = render.grant_instructions(fresh, self.policy, intro)
            self.life.dm(s, fresh.requester_id, f"granted:{fresh.id}", now, message(intro, blocks))

    def _temporary(self, req_id: str, exc: TemporaryError) -> None:
        now = self.clock.now()
        with self.sessions.begin() as s:
            req = s.get(AccessRequest, req_id, with_for_update=True)
            if req is None:
                return
            attempts = self.life.retry_later(s, req, str(exc), exc.retry_after, now)
            if req.state == AccessState.APPROVED and attempts >= MAX_GRANT_ATTEMPTS:
                self.life.move(s, req, AccessEvent.FAIL, SYSTEM, now)
                self.life.thread(
                    s,
                    req,
                    f"failed:{req.version}",
                    now,
                    f"Granting failed: {exc} (after {attempts} attempts). "
                    "Retry or Revoke now on the card.",
                )
            elif req.state == AccessState.REVOKING and attempts == REVOKE_ALERT_AFTER:
                self.life.thread(
                    s,
                    req,
                    "revoke-stuck",
                    now,
                    f"Revoking keeps failing ({exc}); the owners of {req.workspace} should "
                    "check the cluster. envbot keeps retrying.",
                )

    # -- revocation -------------------------------------------------------------------------

    def start_revoke(self, req_id: str, event: AccessEvent, actor: str, reason: str) -> bool:
        """Commit REVOKING (with why) before any backend call; False if not revocable now."""
        return self.transition(req_id, event, actor, end_reason=reason)

    def finish_revoke(self, req_id: str) -> None:
        """Remove the grant's objects; stays REVOKING (retried) until the backend agrees."""
        req = self.life.get(self.sessions, req_id)
        if req is None or req.state != AccessState.REVOKING:
            return
        try:
            self.backend(req.backend).revoke(self.spec(req))
        except (TemporaryError, PermanentError) as exc:
            retry = exc.retry_after if isinstance(exc, TemporaryError) else 300.0
            self._temporary(req_id, TemporaryError(str(exc), retry))
            return
        event = (
            AccessEvent.FINISH_EXPIRY if req.end_reason == "expired" else AccessEvent.FINISH_REVOKE
        )
        now = self.clock.now()
        with self.sessions.begin() as s:
            fresh = s.get(AccessRequest, req_id, with_for_update=True)
            if fresh is None or fresh.state != AccessState.REVOKING:
                return
            fresh.finished_at = now
            self.life.move(s, fresh, event, SYSTEM, now)
            what = ENDED_WORDS.get(fresh.end_reason, "was revoked")
            self.life.thread(
                s, fresh, "ended", now, f"Access {what}; removed from {fresh.workspace}"
            )
            if fresh.end_reason == "offboarded":
                return  # a deactivated user cannot receive DMs
            self.life.dm(
                s,
                fresh.requester_id,
                f"ended:{fresh.id}",
                now,
                f"Your {fresh.role} access to {fresh.workspace} "
                f"(`{fresh.id}`) {what}; it has been removed.",
            )

    # -- shared -----------------------------------------------------------------------------

    def transition(self, req_id: str, event: AccessEvent, actor: str, **changes: str) -> bool:
        """Move one request on `event` in its own transaction; False if the table says no."""
        now = self.clock.now()
        with self.sessions.begin() as s:
            req = s.get(AccessRequest, req_id, with_for_update=True)
            if req is None or not self.life.can(req, event):
                return False
            for key, value in changes.items():
                setattr(req, key, value)
            if event in (AccessEvent.RETRY, AccessEvent.CLEAN_UP):
                req.attempts = 0  # a fresh start: backoff and alerts count from here
                req.failure = ""
            self.life.move(s, req, event, actor, now)
            if event == AccessEvent.FAIL:
                self._failed(s, req, now)
        self.ctx.wake.wake()
        return True

    def _failed(self, s: Session, req: AccessRequest, now: datetime) -> None:
        self.life.thread(
            s,
            req,
            f"failed:{req.version}",
            now,
            f"Granting failed: {req.failure}. Retry or Revoke now on the card.",
        )
