"""The access jobs: expiry, pending timeouts, applying and revoking (on wake or each tick),
drift, and offboarding a deactivated requester."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select

from bot.access.grants import GrantWorker
from bot.db.models import AccessRequest
from bot.domain.states import AccessEvent, AccessState
from bot.errors import PermanentError, TemporaryError
from bot.lifecycle.drift import DriftWords, track_drift
from bot.lifecycle.due import earliest, now_if_any
from bot.lifecycle.moves import SYSTEM
from bot.lifecycle.report_only import report_expired, unreported
from bot.slack.acted import slack_time
from provisioning.base import AccessBackend

logger = logging.getLogger(__name__)
DRIFT_WORDS = DriftWords(
    seen=lambda what, reapply: (
        f"Drift: {what}; " + ("re-applied" if reapply else "reported only (drift: report)")
    ),
    resolved="The grant's objects match again.",
)
# What an offboarded requester's open requests go through, by state.
OFFBOARD_EVENTS = {
    AccessState.PENDING: (AccessEvent.CANCEL,),
    AccessState.APPROVED: (AccessEvent.FAIL, AccessEvent.CLEAN_UP),
    AccessState.ACTIVE: (AccessEvent.OFFBOARD,),
    AccessState.FAILED: (AccessEvent.CLEAN_UP,),
}


def expired_note(req: AccessRequest) -> tuple[str, str]:
    """(what, the thread's text) for an expired grant in report-only mode."""
    what = f"{req.role} on {req.workspace} for {req.subject} ({req.backend} bindings)"
    when = slack_time(req.expires_at) if req.expires_at else "now"
    return what, (
        f"Report-only mode: this grant expired at {when}; envbot would now revoke {what}. "
        "Nothing was removed and the access stays ACTIVE: revoke it yourself, or turn "
        "`report_only` off and the normal expiry revokes it."
    )


class AccessJobs(GrantWorker):
    """The level-triggered access jobs; each reads what is due from the database."""

    def expire_due(self) -> int:
        """ACTIVE grants past expiry go to REVOKING; the revoke job (woken) removes them. In
        report-only mode they stay ACTIVE and their thread says once what would be revoked."""
        now = self.clock.now()
        if self.policy.report_only:
            active = AccessRequest.state == AccessState.ACTIVE
            return report_expired(
                self.sessions,
                self.life,
                now,
                active & (AccessRequest.expires_at <= now),
                lambda req: (
                    req.state == AccessState.ACTIVE
                    and req.expires_at is not None
                    and req.expires_at <= now
                ),
                expired_note,
            )
        due = self._due(AccessRequest.state == AccessState.ACTIVE, AccessRequest.expires_at <= now)
        moved = self.life.sweep(
            self.sessions,
            due,
            AccessEvent.EXPIRE,
            now,
            lambda s, req: None,
            lambda req: req.expires_at is not None and req.expires_at <= now,
            end_reason="expired",
        )
        if moved:
            self.ctx.wake.wake()  # the revoke job removes them now
        return len(due)

    def expire_next_due(self, now: datetime) -> datetime | None:
        """When `expire_due` next has work: the earliest expiry of an ACTIVE grant (in
        report-only mode, of one whose expiry is not reported yet)."""
        active = AccessRequest.state == AccessState.ACTIVE
        if self.policy.report_only:
            return earliest(
                self.sessions,
                AccessRequest.expires_at,
                active,
                unreported(self.life.workflow.kind, AccessRequest),
            )
        return earliest(self.sessions, AccessRequest.expires_at, active)

    def timeout_due(self) -> int:
        """PENDING requests past their workspace's pending_timeout time out."""
        now = self.clock.now()
        due = self._due(
            AccessRequest.state == AccessState.PENDING, AccessRequest.pending_until <= now
        )

        self.life.time_out(
            self.sessions,
            due,
            now,
            lambda req: (
                f"Your request `{req.id}` timed out; no owner of "
                f"{req.workspace} decided in time. Ask again if needed."
            ),
        )
        return len(due)

    def timeout_next_due(self, now: datetime) -> datetime | None:
        """When `timeout_due` next has work: the earliest deadline of a PENDING request."""
        return earliest(
            self.sessions, AccessRequest.pending_until, AccessRequest.state == AccessState.PENDING
        )

    def _due(self, *where: ColumnElement[bool]) -> list[str]:
        with self.sessions() as s:
            return list(s.scalars(select(AccessRequest.id).where(*where)).all())

    def reconcile(self) -> None:
        """Apply APPROVED grants, retry REVOKING ones, and check ACTIVE ones for drift."""
        now = self.clock.now()
        with self.sessions() as s:
            rows = s.scalars(
                select(AccessRequest).where(
                    AccessRequest.state.in_(
                        [AccessState.APPROVED, AccessState.REVOKING, AccessState.ACTIVE]
                    )
                )
            ).all()
        active: list[AccessRequest] = []
        for req in rows:
            due = req.next_check_at is None or req.next_check_at <= now
            if req.state == AccessState.APPROVED and due:
                self.activate(req.id)
            elif req.state == AccessState.REVOKING and due:
                self.finish_revoke(req.id)
            elif req.state == AccessState.ACTIVE:
                active.append(req)
        for backend, group in self.grouped(active):
            try:
                drifted = backend.drifted([self.spec(r) for r in group])
            except TemporaryError as exc:
                logger.warning("drift check on %s failed: %s", group[0].backend, exc)
                continue
            for req in group:
                self._drift(backend, req, drifted.get(req.id, ""), now)

    def reconcile_next_due(self, now: datetime) -> datetime | None:
        """When `reconcile` next has work: an APPROVED or REVOKING request at its next check,
        or now while an ACTIVE grant's drift lasts (each pass re-applies it and looks for its
        end). Drift that starts outside envbot is not in the database; see `Job.next_due`."""
        waiting = AccessRequest.state.in_((AccessState.APPROVED, AccessState.REVOKING))
        active = AccessRequest.state == AccessState.ACTIVE
        unscheduled = now_if_any(
            self.sessions,
            AccessRequest,
            now,
            and_(waiting, AccessRequest.next_check_at.is_(None)),
            and_(active, AccessRequest.drift != ""),
        )
        return unscheduled or earliest(self.sessions, AccessRequest.next_check_at, waiting)

    def _drift(self, backend: AccessBackend, req: AccessRequest, what: str, now: datetime) -> None:
        """Report a drift episode once (thread + audit); re-apply on every pass while it lasts."""
        if not what and not req.drift:
            return
        reapply = bool(what) and self.policy.drift == "reapply"
        with self.sessions.begin() as s:
            row = s.get(AccessRequest, req.id, with_for_update=True)
            if row is None or row.state != AccessState.ACTIVE:
                return
            track_drift(self.life, s, row, what, now, reapply=reapply, words=DRIFT_WORDS)
        if reapply:
            try:
                backend.grant(self.spec(req))
            except (TemporaryError, PermanentError) as exc:
                logger.warning("re-applying grant %s failed: %s", req.id, exc)

    def offboard(self, user_id: str) -> int:
        """End every open request and grant of a deactivated user: pending ones are cancelled,
        the rest go to REVOKING, and the revoke job removes them (woken at once)."""
        with self.sessions() as s:
            reqs = s.scalars(
                select(AccessRequest).where(
                    AccessRequest.requester_id == user_id,
                    AccessRequest.state.in_(list(OFFBOARD_EVENTS)),
                )
            ).all()
        for req in reqs:
            for event in OFFBOARD_EVENTS[AccessState(req.state)]:
                changes = {"failure": "requester offboarded"} if event == AccessEvent.FAIL else {}
                self.transition(req.id, event, SYSTEM, end_reason="offboarded", **changes)
        return len(reqs)
