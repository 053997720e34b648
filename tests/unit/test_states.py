"""Every (state, event) pair of both machines, legal and illegal, against the DESIGN.md tables."""

from __future__ import annotations

import itertools

import pytest

from bot.domain.states import (
    ACCESS_TERMINAL,
    ACCESS_TRANSITIONS,
    ENV_TERMINAL,
    ENV_TRANSITIONS,
    AccessEvent,
    AccessState,
    EnvEvent,
    EnvState,
    next_access_state,
    next_env_state,
)
from bot.errors import InvalidTransition

E, EE = EnvState, EnvEvent
A, AE = AccessState, AccessEvent

# Written out independently of the module, straight from DESIGN.md (plus delete-while-provisioning).
EXPECTED_ENV = {
    (E.REQUESTED, EE.START): E.PROVISIONING,
    (E.REQUESTED, EE.REQUIRE_APPROVAL): E.PENDING_APPROVAL,
    (E.PENDING_APPROVAL, EE.APPROVE): E.PROVISIONING,
    (E.PENDING_APPROVAL, EE.DENY): E.DENIED,
    (E.PENDING_APPROVAL, EE.CANCEL): E.CANCELLED,
    (E.PENDING_APPROVAL, EE.TIME_OUT): E.TIMED_OUT,
    (E.PROVISIONING, EE.PROVISIONED): E.READY,
    (E.PROVISIONING, EE.FAIL): E.FAILED,
    (E.PROVISIONING, EE.DELETE): E.DELETING,
    (E.PROVISIONING, EE.EXPIRE): E.DELETING,
    (E.READY, EE.DELETE): E.DELETING,
    (E.READY, EE.EXPIRE): E.DELETING,
    (E.DELETING, EE.GONE): E.DELETED,
    (E.DELETING, EE.FAIL): E.FAILED,
    (E.FAILED, EE.RETRY): E.PROVISIONING,
    (E.FAILED, EE.DELETE): E.DELETING,
    (E.FAILED, EE.EXPIRE): E.DELETING,
}
EXPECTED_ACCESS = {
    (A.PENDING, AE.APPROVE): A.APPROVED,
    (A.PENDING, AE.DENY): A.DENIED,
    (A.PENDING, AE.CANCEL): A.CANCELLED,
    (A.PENDING, AE.TIME_OUT): A.TIMED_OUT,
    (A.APPROVED, AE.ACTIVATE): A.ACTIVE,
    (A.APPROVED, AE.FAIL): A.FAILED,
    (A.FAILED, AE.RETRY): A.APPROVED,
    (A.FAILED, AE.CLEAN_UP): A.REVOKING,
    (A.ACTIVE, AE.EXPIRE): A.REVOKING,
    (A.ACTIVE, AE.REVOKE): A.REVOKING,
    (A.ACTIVE, AE.OFFBOARD): A.REVOKING,
    (A.REVOKING, AE.FINISH_EXPIRY): A.EXPIRED,
    (A.REVOKING, AE.FINISH_REVOKE): A.REVOKED,
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(EnvState, EnvEvent)))
def test_every_environment_pair(state: EnvState, event: EnvEvent) -> None:
    expected = EXPECTED_ENV.get((state, event))
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            next_env_state(state, event)
        assert info.value.state == state
        assert info.value.event == event
    else:
        assert next_env_state(state, event) == expected


@pytest.mark.parametrize(("state", "event"), list(itertools.product(AccessState, AccessEvent)))
def test_every_access_pair(state: AccessState, event: AccessEvent) -> None:
    expected = EXPECTED_ACCESS.get((state, event))
    if expected is None:
        with pytest.raises(InvalidTransition):
            next_access_state(state, event)
    else:
        assert next_access_state(state, event) == expected


def test_tables_match_the_design_exactly() -> None:
    assert dict(ENV_TRANSITIONS) == EXPECTED_ENV
    assert dict(ACCESS_TRANSITIONS) == EXPECTED_ACCESS


def test_terminal_states_have_no_way_out() -> None:
    assert not [k for k in ENV_TRANSITIONS if k[0] in ENV_TERMINAL]
    assert not [k for k in ACCESS_TRANSITIONS if k[0] in ACCESS_TERMINAL]


def test_every_non_terminal_state_is_reachable_and_leaves() -> None:
    reached = {E.REQUESTED} | set(ENV_TRANSITIONS.values())
    assert reached == set(EnvState)
    reached_a = {A.PENDING} | set(ACCESS_TRANSITIONS.values())
    assert reached_a == set(AccessState)
    for state in set(EnvState) - ENV_TERMINAL:
        assert any(k[0] == state for k in ENV_TRANSITIONS), state
