"""Renders access requests and grants into Slack messages from their state (card, list, modals)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from slack_sdk.models.blocks import Block

from bot.access import KIND
from bot.db.models import AccessRequest
from bot.domain.durations import format_duration
from bot.domain.states import AccessState
from bot.lifecycle.render import decision_actions
from bot.policy import Policy
from bot.slack.blocks import (
    ActionId,
    CallbackId,
    Message,
    actions,
    button,
    context,
    input_select,
    input_text,
    message,
    modal,
    object_value,
    section,
)

REQUEST_ACTIONS_BLOCK = "request_actions"
_DECIDED = {
    AccessState.APPROVED,
    AccessState.ACTIVE,
    AccessState.FAILED,
    AccessState.REVOKING,
    AccessState.EXPIRED,
    AccessState.REVOKED,
    AccessState.DENIED,
}


def state_word(req: AccessRequest, now: datetime) -> str:
    state = AccessState(req.state)
    if state == AccessState.ACTIVE and req.expires_at is not None:
        return f"active, {format_duration(req.expires_at - now)} left"
    return state.value.lower().replace("_", " ")


def request_card(req: AccessRequest, now: datetime) -> Message:
    """The approval card; Approve/Deny/Cancel only while the request is pending."""
    duration = format_duration(timedelta(seconds=req.duration_s))
    lines = [
        f"*Access request {req.id}*: <@{req.requester_id}> asks for *{req.role}* in workspace "
        f"*{req.workspace}* for {duration}",
        f"Reason: {req.reason}",
        f"State: *{state_word(req, now)}*",
    ]
    blocks: list[Block] = [section("\n".join(lines))]
    value = object_value(KIND, req.id)
    if req.state == AccessState.PENDING:
        blocks.append(
            context(
                f"Waiting for an owner of {req.workspace} until "
                f"{req.pending_until:%Y-%m-%d %H:%M} UTC"
            )
        )
        blocks.append(decision_actions(REQUEST_ACTIONS_BLOCK, value))
    elif req.state == AccessState.FAILED:
        blocks.append(context(f"Granting failed: {req.failure}"))
        blocks.append(
            actions(
                REQUEST_ACTIONS_BLOCK,
                [
                    button("Retry", ActionId.RETRY, value, style="primary"),
                    button("Revoke now", ActionId.REVOKE_NOW, value, style="danger"),
                ],
            )
        )
    if req.decided_by and AccessState(req.state) in _DECIDED:
        verb = "Denied" if req.state == AccessState.DENIED else "Approved"
        note = f": {req.decision_note}" if req.decision_note else ""
        when = f" at {req.decided_at:%Y-%m-%d %H:%M} UTC" if req.decided_at else ""
        blocks.append(context(f"{verb} by <@{req.decided_by}>{when}{note}"))
    return message(
        f"Access request {req.id}: {req.role} in {req.workspace} ({state_word(req, now)})", blocks
    )


def request_line(req: AccessRequest, now: datetime) -> str:
    return (
        f"`{req.id}`  {req.role} in {req.workspace} for <@{req.requester_id}>: "
        f"{state_word(req, now)}"
    )


def grant_instructions(req: AccessRequest, policy: Policy) -> str:
    """What the requester can now do, and how to sign in (never a credential)."""
    mgmt = policy.management
    ws = policy.workspaces.get(req.workspace)
    where = f"the clusters of workspace {req.workspace}"
    if ws is not None and ws.access_backend == "rbac" and ws.cluster:
        where = (
            f"namespace {ws.namespace} on cluster {ws.cluster}"
            if ws.namespace
            else (f"cluster {ws.cluster}")
        )
    return (
        f"You now have *{req.role}* on {where} as {req.subject}. Sign in through dex: "
        f"generate a token at {mgmt.token_url}, or use kubelogin (`kubectl oidc-login "
        f"get-token --oidc-issuer-url={mgmt.issuer_url} --oidc-client-id="
        f"{mgmt.oidc.client_id}`)."
    )


def request_modal(
    policy: Policy, *, workspace: str = "", role: str = "", duration: str = "", reason: str = ""
) -> dict[str, object]:
    """The /access request form, pre-filled with whatever the command already said."""
    roles: list[str] = sorted({r for ws in policy.workspaces.values() for r in ws.roles})
    workspaces: Sequence[str] = sorted(n for n, ws in policy.workspaces.items() if ws.roles)
    return modal(
        CallbackId.ACCESS_REQUEST,
        "Request access",
        [
            input_select("workspace", "Workspace", workspaces, initial=workspace),
            input_select("role", "Role", roles, initial=role),
            input_text("duration", "Duration (30m, 4h, 3d)", initial=duration),
            input_text("reason", "Reason", initial=reason, multiline=True),
        ],
        submit="Request",
    )


def plain_state(req: AccessRequest) -> str:
    """The request's state in words, without the time left."""
    return AccessState(req.state).value.lower().replace("_", " ")
