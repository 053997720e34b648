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


_S, _E = EnvState, EnvEvent
ENV_TRANSITIONS: Mapping[tuple[EnvState, EnvEvent], EnvState] = MappingProxyType(
    {
        (_S.REQUESTED, _E.START): _S.PROVISIONING,
        (_S.REQUESTED, _E.REQUIRE_APPROVAL): _S.PENDING_APPROVAL,
        (_S.PENDING_APPROVAL, _E.APPROVE): _S.PROVISIONING,
        (_S.PENDING_APPROVAL, _E.DENY): _S.DENIED,
        (_S.PENDING_APPROVAL, _E.CANCEL): _S.CANCELLED,
        (_S.PENDING_APPROVAL, _E.TIME_OUT): _S.TIMED_OUT,
        (_S.PROVISIONING, _E.PROVISIONED): _S.READY,
        (_S.PROVISIONING, _E.FAIL): _S.FAILED,
        # Deleting while provisioning is allowed so a mistaken create never has to be waited out.
        (_S.PROVISIONING, _E.DELETE): _S.DELETING,
        (_S.PROVISIONING, _E.EXPIRE): _S.DELETING,
        (_S.READY, _E.DELETE): _S.DELETING,
        (_S.READY, _E.EXPIRE): _S.DELETING,
        (_S.DELETING, _E.GONE): _S.DELETED,
        (_S.DELETING, _E.FAIL): _S.FAILED,
        (_S.FAILED, _E.RETRY): _S.PROVISIONING,
        (_S.FAILED, _E.DELETE): _S.DELETING,
        (_S.FAILED, _E.EXPIRE): _S.DELETING,
    }
)

_A, _AE = AccessState, AccessEvent
ACCESS_TRANSITIONS: Mapping[tuple[AccessState, AccessEvent], AccessState] = MappingProxyType(
    {
        (_A.PENDING, _AE.APPROVE): _A.APPROVED,
        (_A.PENDING, _AE.DENY): _A.DENIED,
        (_A.PENDING, _AE.CANCEL): _A.CANCELLED,
        (_A.PENDING, _AE.TIME_OUT): _A.TIMED_OUT,
        (_A.APPROVED, _AE.ACTIVATE): _A.ACTIVE,
        (_A.APPROVED, _AE.FAIL): _A.FAILED,
        (_A.FAILED, _AE.RETRY): _A.APPROVED,
        (_A.FAILED, _AE.CLEAN_UP): _A.REVOKING,
        (_A.ACTIVE, _AE.EXPIRE): _A.REVOKING,
        (_A.ACTIVE, _AE.REVOKE): _A.REVOKING,
        (_A.ACTIVE, _AE.OFFBOARD): _A.REVOKING,
        (_A.REVOKING, _AE.FINISH_EXPIRY): _A.EXPIRED,
        (_A.REVOKING, _AE.FINISH_REVOKE): _A.REVOKED,
    }
)

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
