"""Renders environments into Slack messages from their state (cards, lists, instructions)."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import Block

from bot.db.models import Environment
from bot.domain.durations import format_duration
from bot.domain.states import EnvState
from bot.environments import KIND
from bot.lifecycle.render import decision_actions
from bot.policy import Policy
from bot.slack.blocks import (
    ActionId,
    Message,
    actions,
    button,
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
        lines.append(f"Expires in {time_left(env, now)} ({env.expires_at:%Y-%m-%d %H:%M} UTC)")
    if env.reason:
        lines.append(f"Reason: {env.reason}")
    if env.state == EnvState.FAILED and env.failure:
        lines.append(f"Failure: {env.failure}")
    blocks: list[Block] = [section("\n".join(lines))]
    value = object_value(KIND, env.id)
    if env.state == EnvState.FAILED:
        delete = button("Delete now", ActionId.DELETE_NOW, value, style="danger")
        retry = button("Retry", ActionId.RETRY, value, style="primary")
        failed_deleting = env.failed_while == "deleting"
        blocks.append(actions(ENV_ACTIONS_BLOCK, [delete] if failed_deleting else [retry, delete]))
    if env.state == EnvState.PENDING_APPROVAL:
        blocks.append(decision_actions(ENV_ACTIONS_BLOCK, value))
    if env.decided_by and env.state not in (EnvState.PENDING_APPROVAL,):
        blocks.append(context(f"Decided by <@{env.decided_by}>"))
    return message(f"{env.name}: {state_word(env.state)}", blocks)


def delete_confirm(env: Environment) -> Message:
    """`/env delete`'s answer: one Delete button behind Slack's confirm dialog."""
    confirm = button("Delete now", ActionId.DELETE_NOW, object_value(KIND, env.id), style="danger")
    confirm.confirm = {
        "title": {"type": "plain_text", "text": "Delete environment?"},
        "text": {"type": "plain_text", "text": f"{env.name} and everything in it will be deleted."},
        "confirm": {"type": "plain_text", "text": "Delete"},
        "deny": {"type": "plain_text", "text": "Keep it"},
    }
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
        f"Time left: {time_left(env, now)} (expires {env.expires_at:%Y-%m-%d %H:%M} UTC)",
    ]
    if env.reason:
        lines.append(f"Reason: {env.reason}")
    if env.failure:
        lines.append(f"Last failure: {env.failure}")
    lines.extend(f"{k}: {v}" for k, v in sorted(env.endpoints.items()))
    return lines


def access_instructions(env: Environment, policy: Policy) -> Message:
    """kubectl access through kubelogin and the DKP token page; never an admin kubeconfig."""
    mgmt = policy.management
    server = str(env.endpoints.get("api_server", ""))
    namespace = env.name if env.kind == "namespace" else ""
    user = f"oidc-{env.name}"
    snippet = "\n".join(
        [
            f"kubectl config set-cluster {env.name} --server={server}",
            f"kubectl config set-credentials {user} \\",
            "  --exec-api-version=client.authentication.k8s.io/v1 \\",
            "  --exec-interactive-mode=Never --exec-command=kubectl --exec-arg=oidc-login \\",
            f"  --exec-arg=get-token --exec-arg=--oidc-issuer-url={mgmt.issuer_url} \\",
            f"  --exec-arg=--oidc-client-id={mgmt.oidc.client_id} \\",
            "  --exec-arg=--oidc-extra-scope=email --exec-arg=--oidc-extra-scope=groups",
            f"kubectl config set-context {env.name} --cluster={env.name} --user={user}"
            + (f" --namespace={namespace}" if namespace else ""),
            f"kubectl config use-context {env.name}",
        ]
    )
    text = (
        f"*Access to {env.name}* (you sign in as {env.owner_email} through dex)\n"
        f"Generate a token in the browser: {mgmt.token_url}\n"
        f"Or set up kubectl with kubelogin (`kubectl krew install oidc-login`):\n"
        f"```{snippet}```"
    )
    return message(f"Access instructions for {env.name}", [section(text)])


def env_state_word(env: Environment) -> str:
    """The environment's state in words, for answers that name it."""
    return state_word(env.state)
