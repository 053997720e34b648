"""Renders environments into Slack messages from their state (cards, lists, instructions)."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import Block, ButtonElement

from bot.db.models import Environment
from bot.domain.durations import format_duration
from bot.domain.kubectl import Target
from bot.domain.states import EnvState
from bot.environments import KIND
from bot.lifecycle.approval_view import decided_blocks, pending_blocks, pending_ping
from bot.lifecycle.kubectl_help import kubectl_blocks
from bot.lifecycle.render import decision_actions
from bot.policy import ClusterRef, Policy
from bot.policy.pem import pem_to_data
from bot.slack.acted import slack_time
from bot.slack.blocks import (
    ActionId,
    Message,
    actions,
    button,
    confirm_dialog,
    context,
    message,
    object_value,
    section,
)

ENV_ACTIONS_BLOCK = "env_actions"
CONFIRM_BLOCK = "env_delete_confirm"
_STATE_WORDS = {
    EnvState.REQUESTED: "requested",
    EnvState.PENDING_APPROVAL: "waiting for approval",
    EnvState.PROVISIONING: "provisioning",
    EnvState.READY: "ready",
    EnvState.DELETING: "deleting",
    EnvState.DELETED: "deleted",
    EnvState.FAILED: "failed",
    EnvState.DENIED: "denied",
    EnvState.CANCELLED: "cancelled",
    EnvState.TIMED_OUT: "timed out",
}
PHASE_TEXT = {
    "accepted": "Accepted: creating the objects",
    "infrastructure": "Infrastructure provisioning",
    "control_plane": "Control plane ready",
    "workers": "Workers ready",
    "attached": "Attached to Kommander",
    "ready": "Ready",
    "deleting": "Deleting",
    "deleted": "Deleted",
    "failed": "Failed",
}


def state_word(state: str) -> str:
    return _STATE_WORDS.get(EnvState(state), state.lower())


def time_left(env: Environment, now: datetime) -> str:
    if env.state in (EnvState.DELETED, EnvState.DENIED, EnvState.CANCELLED, EnvState.TIMED_OUT):
        return "-"
    return format_duration(env.expires_at - now)


def env_card(env: Environment, now: datetime) -> Message:
    """The environment's card, re-rendered from state; buttons only where a decision is open."""
    head = (
        f"*{env.name}*: {env.kind} from template `{env.template}` in workspace "
        f"{env.workspace} for <@{env.owner_id}>. State: *{state_word(env.state)}*"
    )
    lines = [head]
    if env.state in (EnvState.PROVISIONING, EnvState.READY, EnvState.PENDING_APPROVAL):
        lines.append(f"Expires in {time_left(env, now)} ({slack_time(env.expires_at)})")
    if env.reason:
        lines.append(f"Reason: {env.reason}")
    if env.state == EnvState.FAILED and env.failure:
        lines.append(f"Failure: {env.failure}")
    blocks: list[Block] = [section("\n".join(lines))]
    value = object_value(KIND, env.id)
    if env.state == EnvState.FAILED:
        delete = delete_button(env)
        retry = button("Retry", ActionId.RETRY, value, style="primary")
        failed_deleting = env.failed_while == "deleting"
        blocks.append(actions(ENV_ACTIONS_BLOCK, [delete] if failed_deleting else [retry, delete]))
    if env.state == EnvState.PENDING_APPROVAL:
        blocks += pending_blocks(env.approval, env.workspace)
        blocks.append(decision_actions(ENV_ACTIONS_BLOCK, value))
    if env.decided_by and env.state not in (EnvState.PENDING_APPROVAL,):
        blocks.append(context(f"Decided by <@{env.decided_by}>"))
        blocks += decided_blocks(env.approval)
    ping = pending_ping(env.approval) if env.state == EnvState.PENDING_APPROVAL else ""
    return message(f"{env.name}: {state_word(env.state)}{ping}", blocks)


def delete_button(env: Environment) -> ButtonElement:
    """Delete now, behind Slack's confirm dialog (cards, `/env delete`'s answer)."""
    return button(
        "Delete now",
        ActionId.DELETE_NOW,
        object_value(KIND, env.id),
        style="danger",
        confirm=confirm_dialog(
            "Delete environment?",
            f"{env.name} and everything in it will be deleted. This cannot be undone.",
            "Delete",
            "Keep it",
        ),
    )


def delete_confirm(env: Environment) -> Message:
    """`/env delete`'s answer: one Delete button behind Slack's confirm dialog."""
    confirm = delete_button(env)
    return message(
        f"Delete {env.name}?",
        [
            section(f"Delete *{env.name}* and everything in it? This cannot be undone."),
            actions(CONFIRM_BLOCK, [confirm]),
        ],
    )


def env_line(env: Environment, now: datetime) -> str:
    return (
        f"`{env.name}`  {env.template} ({env.kind}) in {env.workspace}, owner <@{env.owner_id}>, "
        f"{state_word(env.state)}, age {format_duration(now - env.created_at)}, "
        f"time left {time_left(env, now)}"
    )


def env_details(env: Environment, now: datetime) -> list[str]:
    lines = [
        f"Template: {env.template} ({env.kind}) in workspace {env.workspace}",
        f"Owner: <@{env.owner_id}> ({env.owner_email})",
        f"State: {state_word(env.state)}",
        f"Age: {format_duration(now - env.created_at)}",
        f"Time left: {time_left(env, now)} (expires {slack_time(env.expires_at)})",
    ]
    if env.reason:
        lines.append(f"Reason: {env.reason}")
    if env.failure:
        lines.append(f"Last failure: {env.failure}")
    for key, value in sorted(env.endpoints.items()):
        shown = f"({len(str(value))} characters, in /env access)" if key == "ca_data" else value
        lines.append(f"{key}: {shown}")
    return lines


def access_instructions(env: Environment, policy: Policy) -> Message:
    """kubectl access through kubelogin, or the DKP token page; never an admin kubeconfig."""
    intro = f"*Access to {env.name}* (you sign in as {env.owner_email} through dex)"
    blocks = kubectl_blocks(policy.management, kubectl_target(env, policy), intro)
    return message(f"Access instructions for {env.name}", blocks)


def kubectl_target(env: Environment, policy: Policy) -> Target:
    """Where the environment's kubectl context points: the server, its CA, the namespace.

    A cluster's server and CA come from what the backend observed (the KommanderCluster's
    ingress); a namespace's from its template's `clusters` entry. The server is empty when
    neither is known (the policy no longer names the cluster, or Kommander has not said).
    """
    if env.kind != "namespace":
        return Target(
            name=env.name,
            server=str(env.endpoints.get("api_server", "")),
            ca_data=str(env.endpoints.get("ca_data", "")),
        )
    template = policy.templates.get(env.template)
    ref = template.cluster if template is not None else None
    cluster = policy.clusters.get(ref.ref) if isinstance(ref, ClusterRef) else None
    if cluster is None:
        return Target(name=env.name, server="", namespace=env.name)
    ca = pem_to_data(cluster.ca) if cluster.ca else ""
    return Target(name=env.name, server=cluster.api_server, ca_data=ca, namespace=env.name)


def env_state_word(env: Environment) -> str:
    """The environment's state in words, for answers that name it."""
    return state_word(env.state)
