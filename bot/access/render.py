"""Renders access requests and grants into Slack messages from their state (card, list, modals)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from slack_sdk.models.blocks import Block

from bot.access import KIND
from bot.access.auto_approve import RULE_PREFIX, approved_words
from bot.access.glass_card import glass_card
from bot.db.models import AccessRequest
from bot.domain.durations import format_duration
from bot.domain.kubectl import Target
from bot.domain.states import AccessState
from bot.lifecycle.approval_view import decided_blocks, pending_blocks, pending_ping
from bot.lifecycle.kubectl_help import credentials_blocks, kubectl_blocks
from bot.lifecycle.render import decision_actions, end_now_confirm
from bot.policy import Policy
from bot.policy.pem import pem_to_data
from bot.slack.acted import slack_time
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
    """The approval card; Approve/Deny/Cancel only while the request is pending. A
    break-glass grant has its own loud card (`glass_card`)."""
    if req.break_glass:
        return glass_card(req, now, state_word(req, now))
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
        blocks += pending_blocks(req.approval, req.workspace) or [
            context(
                f"Waiting for an owner of {req.workspace} until {slack_time(req.pending_until)}"
            )
        ]
        blocks.append(decision_actions(REQUEST_ACTIONS_BLOCK, value))
    elif req.state == AccessState.FAILED:
        blocks.append(context(f"Granting failed: {req.failure}"))
        blocks.append(
            actions(
                REQUEST_ACTIONS_BLOCK,
                [
                    button("Retry", ActionId.RETRY, value, style="primary"),
                    button(
                        "Revoke now",
                        ActionId.REVOKE_NOW,
                        value,
                        style="danger",
                        confirm=end_now_confirm("Revoke now", req.id),
                    ),
                ],
            )
        )
    if req.decided_by and AccessState(req.state) in _DECIDED:
        verb = "Denied by" if req.state == AccessState.DENIED else "Approved by"
        note = f": {req.decision_note}" if req.decision_note else ""
        when = f" at {slack_time(req.decided_at)}" if req.decided_at else ""
        who = f"{verb} <@{req.decided_by}>"
        if req.decided_by.startswith(RULE_PREFIX):
            who = approved_words(req).capitalize()
        blocks.append(context(f"{who}{when}{note}"))
        blocks += decided_blocks(req.approval)
    ping = pending_ping(req.approval) if req.state == AccessState.PENDING else ""
    return message(
        f"Access request {req.id}: {req.role} in {req.workspace} ({state_word(req, now)}){ping}",
        blocks,
    )


def request_line(req: AccessRequest, now: datetime) -> str:
    return (
        f"`{req.id}`  {req.role} in {req.workspace} for <@{req.requester_id}>: "
        f"{state_word(req, now)}"
    )


def grant_instructions(req: AccessRequest, policy: Policy, intro: str) -> list[Block]:
    """What the requester can now do, and how to sign in with kubectl (never a credential).

    An rbac grant on one policy cluster gets the full kubectl setup for that cluster; a
    kommander grant spans the workspace's clusters, so it gets the kubelogin user only.
    """
    mgmt = policy.management
    ws = policy.workspaces.get(req.workspace)
    cluster = (
        policy.clusters.get(ws.cluster)
        if ws and ws.access_backend == "rbac" and ws.cluster
        else None
    )
    if ws is not None and ws.cluster and cluster is not None:
        where = (
            f"namespace {ws.namespace} on cluster {ws.cluster}"
            if ws.namespace
            else f"cluster {ws.cluster}"
        )
        text = f"{intro}\nYou now have *{req.role}* on {where} as {req.subject}."
        target = Target(
            name=ws.cluster,
            server=cluster.api_server,
            ca_data=pem_to_data(cluster.ca) if cluster.ca else "",
            namespace=ws.namespace or "",
        )
        return kubectl_blocks(mgmt, target, text)
    text = (
        f"{intro}\nYou now have *{req.role}* on the clusters of workspace {req.workspace} "
        f"as {req.subject}."
    )
    return credentials_blocks(mgmt, f"oidc-{req.workspace}", text)


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
