"""The two state machines of DESIGN.md (environments and access requests) as transition tables.

Everything here is pure: services look up the next state with `next_state()`, persist it,
and append an audit event. Terminal states have no outgoing transitions, so a repeated
event on a finished object raises `InvalidTransition`, which services turn into a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from bot.errors import InvalidTransition


class EnvState(StrEnum):
    """States of an environment."""

    REQUESTED = "REQUESTED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PROVISIONING = "PROVISIONING"
    READY = "READY"
    DELETING = "DELETING"
    DELETED = "DELETED"
    FAILED = "FAILED"
    DENIED = "DENIED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


class EnvEvent(StrEnum):
    """Events that move an environment."""

    START = "start"  # REQUESTED, no approval needed
    REQUIRE_APPROVAL = "require_approval"
    APPROVE = "approve"
    DENY = "deny"
    CANCEL = "cancel"
    TIME_OUT = "time_out"
    PROVISIONED = "provisioned"
    FAIL = "fail"
    DELETE = "delete"
    EXPIRE = "expire"
    GONE = "gone"  # every object of a DELETING environment is gone
    RETRY = "retry"


class AccessState(StrEnum):
    """States of an access request and the grant it becomes."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"
    REVOKING = "REVOKING"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    DENIED = "DENIED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


class AccessEvent(StrEnum):
    """Events that move an access request."""

    APPROVE = "approve"
    DENY = "deny"
    CANCEL = "cancel"
    TIME_OUT = "time_out"
    ACTIVATE = "activate"
    FAIL = "fail"
    RETRY = "retry"
    CLEAN_UP = "clean_up"  # FAILED -> REVOKING: remove what was half-applied
    EXPIRE = "expire"
    REVOKE = "revoke"  # early revoke by the requester or an owner
    OFFBOARD = "offboard"  # the requester was deactivated in Slack
    FINISH_EXPIRY = "finish_expiry"
    FINISH_REVOKE = "finish_revoke"


def _decisions(states: Any, events: Any, pending: Any, approved: Any) -> dict[Any, Any]:
    """The decision part every machine shares: a pending request is approved (to `approved`),
    denied, cancelled by its requester, or times out undecided."""
    return {
        (pending, events.APPROVE): approved,
        (pending, events.DENY): states.DENIED,
        (pending, events.CANCEL): states.CANCELLED,
        (pending, events.TIME_OUT): states.TIMED_OUT,
    }


def _table(states: Any, events: Any, pending: Any, approved: Any, text: str) -> Mapping[Any, Any]:
    """A transition table from lines of `STATE: event -> NEXT, event -> NEXT`, plus the decision
    part every machine shares. A name that is not a member of its enum fails at import."""
    table = _decisions(states, events, pending, approved)
    for line in text.strip().splitlines():
        state, _, moves = line.partition(":")
        for move in moves.split(","):
            event, _, target = move.partition("->")
            key = (states[state.strip()], events(event.strip()))
            table[key] = states[target.strip()]
    return MappingProxyType(table)


_S, _A = EnvState, AccessState
# Deleting while provisioning is allowed so a mistaken create never has to be waited out.
_ENV_MOVES = """
    REQUESTED: start -> PROVISIONING, require_approval -> PENDING_APPROVAL
    PROVISIONING: provisioned -> READY, fail -> FAILED, delete -> DELETING, expire -> DELETING
    READY: delete -> DELETING, expire -> DELETING
    DELETING: gone -> DELETED, fail -> FAILED
    FAILED: retry -> PROVISIONING, delete -> DELETING, expire -> DELETING
"""
_ACCESS_MOVES = """
    APPROVED: activate -> ACTIVE, fail -> FAILED
    FAILED: retry -> APPROVED, clean_up -> REVOKING
    ACTIVE: expire -> REVOKING, revoke -> REVOKING, offboard -> REVOKING
    REVOKING: finish_expiry -> EXPIRED, finish_revoke -> REVOKED
"""
ENV_TRANSITIONS: Mapping[tuple[EnvState, EnvEvent], EnvState]
ENV_TRANSITIONS = _table(_S, EnvEvent, _S.PENDING_APPROVAL, _S.PROVISIONING, _ENV_MOVES)
ACCESS_TRANSITIONS: Mapping[tuple[AccessState, AccessEvent], AccessState]
ACCESS_TRANSITIONS = _table(_A, AccessEvent, _A.PENDING, _A.APPROVED, _ACCESS_MOVES)

ENV_TERMINAL: frozenset[EnvState] = frozenset({_S.DELETED, _S.DENIED, _S.CANCELLED, _S.TIMED_OUT})
ACCESS_TERMINAL: frozenset[AccessState] = frozenset(
    {_A.EXPIRED, _A.REVOKED, _A.DENIED, _A.CANCELLED, _A.TIMED_OUT}
)
# Environments that hold (or may hold) real objects count against quotas.
ENV_LIVE: frozenset[EnvState] = frozenset(
    {_S.REQUESTED, _S.PENDING_APPROVAL, _S.PROVISIONING, _S.READY, _S.DELETING, _S.FAILED}
)


@dataclass(frozen=True)
class Machine:
    """One state machine: its table, where decisions start, and where they may end.

    Attributes:
        pending: the state a decision (approve, deny, cancel) starts from.
        denied: the state a denial ends in.
        undecided: end states in which nobody approved (denied, cancelled, timed out).
    """

    name: str
    table: Mapping[Any, str]
    pending: str
    denied: str
    undecided: frozenset[str]

    def next(self, state: str, event: str) -> str:
        """Return the state the machine moves to on `event`.

        Raises:
            InvalidTransition: the table has no entry for (state, event).
        """
        try:
            return self.table[(state, event)]
        except KeyError:
            raise InvalidTransition(self.name, state, event) from None


_UNDECIDED = frozenset({"DENIED", "CANCELLED", "TIMED_OUT"})
ENV_MACHINE = Machine("environment", ENV_TRANSITIONS, _S.PENDING_APPROVAL, _S.DENIED, _UNDECIDED)
ACCESS_MACHINE = Machine("access", ACCESS_TRANSITIONS, _A.PENDING, _A.DENIED, _UNDECIDED)


def next_env_state(state: EnvState, event: EnvEvent) -> EnvState:
    """Return the state an environment moves to on `event` (`InvalidTransition` if none)."""
    return EnvState(ENV_MACHINE.next(state, event))


def next_access_state(state: AccessState, event: AccessEvent) -> AccessState:
    """Return the state an access request moves to on `event` (`InvalidTransition` if none)."""
    return AccessState(ACCESS_MACHINE.next(state, event))
