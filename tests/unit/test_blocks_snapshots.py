"""One Block Kit snapshot per state of each card, and every card passes slack_sdk's own limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from bot.access import render as render_access
from bot.db.models import AccessRequest, Environment
from bot.domain.states import AccessState, EnvState
from bot.environments import render

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def _env(state: EnvState) -> Environment:
    return Environment(
        id="eabcde",
        name="sandbox-alice-abcd",
        workspace="sandbox",
        template="sandbox",
        kind="cluster",
        backend="fake",
        owner_id="U0ALICE",
        owner_email="alice@example.com",
        created_by="U0ALICE",
        reason="try the new ingress",
        state=state,
        phase="",
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW + timedelta(days=3),
        failure="quota exceeded in us-west-2" if state == EnvState.FAILED else "",
        decided_by="U0BOB" if state in (EnvState.DENIED,) else "",
        endpoints={},
        attempts=0,
        version=1,
    )


def _req(state: AccessState) -> AccessRequest:
    decided = state not in (AccessState.PENDING, AccessState.CANCELLED, AccessState.TIMED_OUT)
    active = state in (
        AccessState.ACTIVE,
        AccessState.REVOKING,
        AccessState.EXPIRED,
        AccessState.REVOKED,
    )
    return AccessRequest(
        id="rabcde",
        requester_id="U0ALICE",
        subject="alice@example.com",
        workspace="sandbox",
        role="admin",
        backend="kommander",
        duration_s=7200,
        reason="debug the ingress",
        state=state,
        created_at=NOW,
        updated_at=NOW,
        pending_until=NOW + timedelta(days=1),
        decided_by="U0BOB" if decided else "",
        decided_at=NOW if decided else None,
        decision_note="not today" if state == AccessState.DENIED else "",
        activated_at=NOW if active else None,
        expires_at=NOW + timedelta(hours=2) if active else None,
        failure="webhook denied" if state == AccessState.FAILED else "",
        end_reason="",
        attempts=0,
        version=1,
    )


@pytest.mark.parametrize("state", list(EnvState))
def test_env_card(state: EnvState, snapshot_json: SnapshotAssertion) -> None:
    card = render.env_card(_env(state), NOW)
    labels = [
        e["text"]["text"]
        for b in card.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    # Buttons only where a decision is open.
    if state == EnvState.FAILED:
        assert labels == ["Retry", "Delete now"]
    elif state == EnvState.PENDING_APPROVAL:
        assert labels == ["Approve", "Deny", "Cancel"]
    else:
        assert labels == []
    assert card == snapshot_json


@pytest.mark.parametrize("state", list(AccessState))
def test_request_card(state: AccessState, snapshot_json: SnapshotAssertion) -> None:
    card = render_access.request_card(_req(state), NOW)
    labels = [
        e["text"]["text"]
        for b in card.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    expected = {
        AccessState.PENDING: ["Approve", "Deny", "Cancel"],
        AccessState.FAILED: ["Retry", "Revoke now"],
    }.get(state, [])
    assert labels == expected
    assert card == snapshot_json


def test_long_reason_is_truncated_not_rejected() -> None:
    env = _env(EnvState.READY)
    env.reason = "x" * 5000
    card = render.env_card(env, NOW)
    text = card["blocks"][0]["text"]["text"]
    assert len(text) <= 3000
    assert text.endswith("(truncated)")
