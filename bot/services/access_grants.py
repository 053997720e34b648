"""Applies and removes grants through the access backends, and the access jobs.

Each step commits the state it starts from before calling a backend, and commits the result
after, so a crash leaves a state the next job pass picks up (APPROVED is applied again,
REVOKING is revoked again). Grants own their objects, so overlapping grants never cut each
other short.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks import text_message
from bot.db.models import AccessRequest
from bot.domain.clock import Clock
from bot.domain.durations import format_duration
from bot.domain.states import AccessEvent, AccessState, next_access_state
from bot.errors import InvalidTransition, PermanentError, TemporaryError
from bot.notify import Notifier
from bot.policy import Policy
from bot.services import render_access as render
from bot.services.audit import record
from provisioning.base import AccessBackend, GrantSpec

logger = logging.getLogger(__name__)
OBJ = "access"
SYSTEM = "envbot"
MAX_GRANT_ATTEMPTS = 8
REVOKE_ALERT_AFTER = 3


class GrantWorker:
    """Moves grants APPROVED->ACTIVE, ACTIVE->REVOKING->EXPIRED|REVOKED, and times out requests."""

    def __init__(
        self,
        policy: Policy,
        clock: Clock,
        sessions: sessionmaker[Session],
        notifier: Notifier,
        backends: Mapping[str, AccessBackend],
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.sessions = sessions
        self.notifier = notifier
        self.backends = backends

    def spec(self, req: AccessRequest) -> GrantSpec:
        ws = self.policy.workspaces.get(req.workspace)
        role = ws.roles.get(req.role) if ws else None
        view = self.policy.management.global_view
        kommander = ws is not None and ws.access_backend == "kommander"
        return GrantSpec(
            grant_id=req.id,
            subject=req.subject,
            workspace=req.workspace,
            namespace=(ws.namespace or "") if ws else "",
            role=req.role,
            expires_at=req.expires_at or req.created_at,
            workspace_role=(role.workspace_role or "") if role else "",
            kommander_role=(role.kommander_role or "") if role else "",
            cluster_role=(role.cluster_role or "") if role else "",
            cluster_ref=(ws.cluster or "") if ws else "",
            global_cluster_role=view.cluster_role if (view and kommander) else "",
            global_kommander_role=view.kommander_cluster_role if (view and kommander) else "",
        )

    def _backend(self, req: AccessRequest) -> AccessBackend:
        backend = self.backends.get(req.backend) or self.backends.get("fake")
        if backend is None:
            raise PermanentError(f"no access backend {req.backend!r} is configured")
        return backend

    # -- activation -------------------------------------------------------------------------

    def activate(self, req_id: str) -> None:
        """Apply an APPROVED grant; its clock starts now, at ACTIVE."""
        with self.sessions() as s:
            req = s.get(AccessRequest, req_id)
        if req is None or req.state != AccessState.APPROVED:
            return
        try:
            self._backend(req).grant(self.spec(req))
        except TemporaryError as exc:
            self._temporary(req_id, exc)
            return
        except PermanentError as exc:
            self._transition(req_id, AccessEvent.FAIL, SYSTEM, failure=str(exc))
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
            self._move(s, fresh, AccessEvent.ACTIVATE, SYSTEM, now)
            until = f"{fresh.expires_at:%Y-%m-%d %H:%M} UTC"
            self._thread(s, fresh, f"active:{fresh.version}", now, f"Granted until {until}")
            self.notifier.dm(
                s,
                now=now,
                user_id=fresh.requester_id,
                key=f"granted:{fresh.id}",
                message=text_message(
                    f"Your request `{fresh.id}` was approved by "
                    f"<@{fresh.decided_by}>. "
                    + render.grant_instructions(fresh, self.policy)
                    + f" It ends {until} "
                    f"({format_duration(fresh.expires_at - now)})."
                ),
            )

    def _temporary(self, req_id: str, exc: TemporaryError) -> None:
        now = self.clock.now()
        with self.sessions.begin() as s:
            req = s.get(AccessRequest, req_id, with_for_update=True)
            if req is None:
                return
            req.attempts += 1
            req.failure = str(exc)
            if req.state == AccessState.APPROVED and req.attempts >= MAX_GRANT_ATTEMPTS:
                self._move(s, req, AccessEvent.FAIL, SYSTEM, now)
                self._thread(
                    s,
                    req,
                    f"failed:{req.version}",
                    now,
                    f"Granting failed: {exc} (after {req.attempts} attempts). "
                    "Retry or Revoke now on the card.",
                )
                return
            if req.state == AccessState.REVOKING and req.attempts == REVOKE_ALERT_AFTER:
                self._alert_owners(s, req, now, str(exc))
            req.next_check_at = now + timedelta(seconds=min(exc.retry_after * req.attempts, 900))

    def retry(self, req_id: str, actor: str) -> bool:
        return self._transition(req_id, AccessEvent.RETRY, actor)

    # -- revocation -------------------------------------------------------------------------

    def start_revoke(self, req_id: str, event: AccessEvent, actor: str, reason: str) -> bool:
        """Commit REVOKING (with why) before any backend call; False if not revocable now."""
        return self._transition(req_id, event, actor, end_reason=reason)

    def finish_revoke(self, req_id: str) -> None:
        """Remove the grant's objects; stays REVOKING (retried) until the backend agrees."""
        with self.sessions() as s:
            req = s.get(AccessRequest, req_id)
        if req is None or req.state != AccessState.REVOKING:
            return
        try:
            self._backend(req).revoke(self.spec(req))
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
            self._move(s, fresh, event, SYSTEM, now)
            words = {"expired": "expired", "offboarded": "was revoked (you were deactivated)"}
            what = words.get(fresh.end_reason, "was revoked")
            self._thread(s, fresh, "ended", now, f"Access {what}; removed from {fresh.workspace}")
            if fresh.end_reason == "offboarded":
                return  # a deactivated user cannot receive DMs
            self.notifier.dm(
                s,
                now=now,
                user_id=fresh.requester_id,
                key=f"ended:{fresh.id}",
                message=text_message(
                    f"Your {fresh.role} access to {fresh.workspace} "
                    f"(`{fresh.id}`) {what}; it has been removed."
                ),
            )

    def _alert_owners(self, s: Session, req: AccessRequest, now: datetime, error: str) -> None:
        self._thread(
            s,
            req,
            "revoke-stuck",
            now,
            f"Revoking keeps failing ({error}); the owners of {req.workspace} should "
            "check the cluster. envbot keeps retrying.",
        )

    # -- jobs -------------------------------------------------------------------------------

    def expire_due(self) -> int:
        """ACTIVE grants past expiry go to REVOKING and are revoked."""
        now = self.clock.now()
        with self.sessions() as s:
            due = s.scalars(
                select(AccessRequest.id).where(
                    AccessRequest.state == AccessState.ACTIVE, AccessRequest.expires_at <= now
                )
            ).all()
        for req_id in due:
            if self.start_revoke(req_id, AccessEvent.EXPIRE, SYSTEM, "expired"):
                self.finish_revoke(req_id)
        return len(due)

    def timeout_due(self) -> int:
        """PENDING requests past their workspace's pending_timeout time out."""
        now = self.clock.now()
        with self.sessions() as s:
            due = s.scalars(
                select(AccessRequest.id).where(
                    AccessRequest.state == AccessState.PENDING, AccessRequest.pending_until <= now
                )
            ).all()
        for req_id in due:
            if self._transition(req_id, AccessEvent.TIME_OUT, SYSTEM):
                with self.sessions.begin() as s:
                    req = s.get(AccessRequest, req_id)
                    assert req is not None  # noqa: S101 - just moved
                    self._thread(s, req, "timed-out", now, "Timed out: no owner decided in time")
                    self.notifier.dm(
                        s,
                        now=now,
                        user_id=req.requester_id,
                        key=f"timeout:{req.id}",
                        message=text_message(
                            f"Your request `{req.id}` timed out; no owner of "
                            f"{req.workspace} decided in time. Ask again if needed."
                        ),
                    )
        return len(due)

    def reconcile(self) -> None:
        """Re-apply APPROVED grants, retry REVOKING ones, and check ACTIVE ones for drift."""
        now = self.clock.now()
        with self.sessions() as s:
            rows = s.scalars(
                select(AccessRequest).where(
                    AccessRequest.state.in_(
                        [AccessState.APPROVED, AccessState.REVOKING, AccessState.ACTIVE]
                    )
                )
            ).all()
        active: dict[str, list[AccessRequest]] = {}
        for req in rows:
            due = req.next_check_at is None or req.next_check_at <= now
            if req.state == AccessState.APPROVED and due:
                self.activate(req.id)
            elif req.state == AccessState.REVOKING and due:
                self.finish_revoke(req.id)
            elif req.state == AccessState.ACTIVE:
                active.setdefault(req.backend, []).append(req)
        for name, group in active.items():
            backend = self.backends.get(name) or self.backends.get("fake")
            if backend is None:
                continue
            try:
                drifted = backend.drifted([self.spec(r) for r in group])
            except TemporaryError as exc:
                logger.warning("drift check on %s failed: %s", name, exc)
                continue
            for req in group:
                if req.id in drifted:
                    self._drift(backend, req, drifted[req.id], now)
                elif req.drift:
                    self._drift_resolved(req, now)

    def _drift(self, backend: AccessBackend, req: AccessRequest, what: str, now: datetime) -> None:
        """Report a drift episode once (thread + audit); re-apply on every pass while it lasts."""
        reapply = self.policy.drift == "reapply"
        with self.sessions.begin() as s:
            row = s.get(AccessRequest, req.id, with_for_update=True)
            if row is None or row.state != AccessState.ACTIVE:
                return
            if row.drift != what:
                row.drift = what
                row.drift_count += 1
                action = "re-applied" if reapply else "reported only (drift: report)"
                record(
                    s,
                    at=now,
                    actor=SYSTEM,
                    object_type=OBJ,
                    object_id=req.id,
                    action="drift",
                    from_state=row.state,
                    to_state=row.state,
                    drift=what,
                    reapply=reapply,
                )
                self._thread(s, row, f"drift:{row.drift_count}", now, f"Drift: {what}; {action}")
        if reapply:
            try:
                backend.grant(self.spec(req))
            except (TemporaryError, PermanentError) as exc:
                logger.warning("re-applying grant %s failed: %s", req.id, exc)

    def _drift_resolved(self, req: AccessRequest, now: datetime) -> None:
        """The objects match again: close the episode, so a new drift is reported anew."""
        with self.sessions.begin() as s:
            row = s.get(AccessRequest, req.id, with_for_update=True)
            if row is None or not row.drift:
                return
            record(
                s,
                at=now,
                actor=SYSTEM,
                object_type=OBJ,
                object_id=req.id,
                action="drift_resolved",
                from_state=row.state,
                to_state=row.state,
                drift=row.drift,
            )
            row.drift = ""
            self._thread(
                s, row, f"drift-resolved:{row.drift_count}", now, "The grant's objects match again."
            )

    def offboard(self, user_id: str) -> int:
        """Revoke every active grant of a deactivated user and cancel their pending requests."""
        with self.sessions() as s:
            reqs = s.scalars(
                select(AccessRequest).where(
                    AccessRequest.requester_id == user_id,
                    AccessRequest.state.in_(
                        [
                            AccessState.PENDING,
                            AccessState.APPROVED,
                            AccessState.ACTIVE,
                            AccessState.FAILED,
                        ]
                    ),
                )
            ).all()
        for req in reqs:
            if req.state == AccessState.PENDING:
                self._transition(req.id, AccessEvent.CANCEL, SYSTEM, end_reason="offboarded")
                continue
            event = {
                AccessState.ACTIVE: AccessEvent.OFFBOARD,
                AccessState.FAILED: AccessEvent.CLEAN_UP,
            }.get(AccessState(req.state))
            if event is None:  # APPROVED: let it fail over to FAILED first, then clean up
                self._transition(req.id, AccessEvent.FAIL, SYSTEM, failure="requester offboarded")
                event = AccessEvent.CLEAN_UP
            if self.start_revoke(req.id, event, SYSTEM, "offboarded"):
                self.finish_revoke(req.id)
        return len(reqs)

    # -- shared -----------------------------------------------------------------------------

    def _transition(self, req_id: str, event: AccessEvent, actor: str, **changes: str) -> bool:
        now = self.clock.now()
        with self.sessions.begin() as s:
            req = s.get(AccessRequest, req_id, with_for_update=True)
            if req is None:
                return False
            try:
                next_access_state(AccessState(req.state), event)
            except InvalidTransition:
                return False
            for key, value in changes.items():
                setattr(req, key, value)
            if event in (AccessEvent.RETRY, AccessEvent.CLEAN_UP):
                req.attempts = 0  # a fresh start: backoff and alerts count from here
                req.failure = ""
            self._move(s, req, event, actor, now)
            if event == AccessEvent.FAIL:
                self._thread(
                    s,
                    req,
                    f"failed:{req.version}",
                    now,
                    f"Granting failed: {req.failure}. Retry or Revoke now on the card.",
                )
            return True

    def _move(
        self, s: Session, req: AccessRequest, event: AccessEvent, actor: str, now: datetime
    ) -> None:
        before = req.state
        req.state = next_access_state(AccessState(before), event)
        req.updated_at = now
        req.next_check_at = now
        record(
            s,
            at=now,
            actor=actor,
            object_type=OBJ,
            object_id=req.id,
            action=event,
            from_state=before,
            to_state=req.state,
        )
        s.flush()
        self.notifier.update_card(
            s,
            now=now,
            obj=(OBJ, req.id),
            version=req.version,
            message=render.request_card(req, now),
        )

    def _thread(self, s: Session, req: AccessRequest, key: str, now: datetime, text: str) -> None:
        self.notifier.thread(s, now=now, obj=(OBJ, req.id), key=key, message=text_message(text))
