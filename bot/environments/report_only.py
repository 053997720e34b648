"""What an environment's expiry and cloud cleanup would delete, said instead of done while the
policy has `report_only: true` (see `bot.lifecycle.report_only`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment
from bot.domain.states import EnvState
from bot.lifecycle.moves import SYSTEM, Lifecycle
from bot.lifecycle.report_only import ACTION
from bot.policy import Policy
from bot.slack.acted import slack_time

OFF = "Nothing was deleted; it happens when `report_only` is turned off in the policy."


def would_delete(policy: Policy, env: Environment) -> str:
    """The objects the environment's deletion removes, in a few words."""
    template = policy.templates.get(env.template)
    ws = policy.workspaces.get(env.workspace)
    if env.kind == "namespace":
        ref = getattr(template.cluster, "ref", "") if template and template.cluster else ""
        where = f" on cluster `{ref}`" if ref else ""
        return f"the namespace `{env.name}`{where} with everything in it"
    where = f" in namespace `{ws.namespace}`" if ws and ws.namespace else ""
    return (
        f"the Cluster `{env.name}` and its KommanderCluster{where}, then what the cluster "
        "left in its cloud account"
    )


def expired_note(policy: Policy, env: Environment) -> tuple[str, str]:
    """(what, the thread's text) for an expired environment in report-only mode."""
    what = would_delete(policy, env)
    return what, (
        f"Report-only mode: `{env.name}` expired at {slack_time(env.expires_at)}; envbot "
        f"would now delete {what}. Nothing was deleted and it stays {env.state}: delete it "
        "yourself, extend it, or turn `report_only` off and the normal expiry deletes it."
    )


def cleanup_note(policy: Policy, env: Environment, found: str = "") -> str:
    """The thread's text for a cloud cleanup held back in report-only mode: the cleaner's
    dry run (`found`, each resource it would delete or leave), or else its scope in words."""
    if found:
        return f"Report-only mode: the cloud cleanup of `{env.name}` is on hold.\n{found}\n{OFF}"
    kinds = ", ".join(f"`{k}`" for k in policy.cleanup.delete) or "none (all only reported)"
    dns = (
        f"the external-dns records of `{env.name}` in {', '.join(policy.dns.zones)} (owner "
        f"`{policy.dns.txt_owner_id}`), "
        if policy.dns
        else ""
    )
    return (
        f"Report-only mode: the cloud cleanup of `{env.name}` is on hold. It would delete {dns}"
        f"the AWS resources tagged for the cluster of the kinds in cleanup.delete ({kinds}), "
        f"and report anything else. {OFF}"
    )


def hold_cleanup(
    sessions: sessionmaker[Session],
    life: Lifecycle[Environment],
    policy: Policy,
    env_id: str,
    now: datetime,
    delay: timedelta,
    found: str = "",
) -> None:
    """Keep the cleanup pending (looked at again after `delay`); say so once, and audit that."""
    with sessions.begin() as s:
        row = s.get(Environment, env_id, with_for_update=True)
        if row is None or row.state != EnvState.DELETED:
            return
        row.next_check_at = now + delay
        note = cleanup_note(policy, row, found)
        if life.thread(s, row, "report-only:cloud", now, note):
            life.audit(s, row, ACTION, SYSTEM, now, would="cloud cleanup")
