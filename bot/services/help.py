"""`/env help`, `/access help` and `/env templates`: what this user may do under the policy."""

from __future__ import annotations

from bot.domain.commands import SURFACES
from bot.domain.durations import format_duration
from bot.policy import Policy, Template
from bot.slack.blocks import Message, lines_message
from bot.slack.ports import Directory


class HelpService:
    """Answers from the policy and the user's group memberships; no state changes."""

    def __init__(self, policy: Policy, directory: Directory) -> None:
        self._policy = policy
        self._directory = directory

    def creatable(self, user_id: str) -> dict[str, Template]:
        """The templates this user may create from."""
        return {
            name: t
            for name, t in self._policy.templates.items()
            if not t.allowed or user_id in self._directory.members(t.allowed)
        }

    def owned_workspaces(self, user_id: str) -> list[str]:
        """The workspaces this user owns (approves for)."""
        return [
            name
            for name, ws in self._policy.workspaces.items()
            if user_id in self._directory.members(ws.owners)
        ]

    def help(self, surface: str, user_id: str) -> Message:
        """Every command of `/surface` that this user may use, one line each."""
        can_create = bool(self.creatable(user_id))
        can_request = any(ws.roles for ws in self._policy.workspaces.values())
        owned = self.owned_workspaces(user_id)
        allowed = {
            "everyone": True,
            "creators": can_create,
            "requesters": can_request,
            "owners": bool(owned),
        }
        lines = [
            f"`{spec.usage}`  {spec.summary}"
            for spec in SURFACES[surface]
            if allowed[spec.audience]
        ]
        footer = ""
        if owned:
            names = ", ".join(owned)
            footer = (
                f"You own {names}: approve or deny requests with the buttons on their "
                "approval cards, and act on any environment or grant there."
            )
        elif surface == "env" and not can_create:
            footer = "No template is open to you; ask a workspace owner to add you."
        return lines_message(f"/{surface} commands you can use", lines, footer)

    def templates(self, user_id: str) -> Message:
        """The templates this user may create from, with TTLs and approval."""
        rows = []
        for name, t in sorted(self.creatable(user_id).items()):
            approval = "needs approval" if t.approval else "no approval needed"
            ttl = t.ttl
            rows.append(
                f"`{name}`  {t.kind} in workspace {t.workspace}; "
                f"TTL {format_duration(ttl.default)} (max {format_duration(ttl.max)}, "
                f"extend by {format_duration(ttl.extend_step)}); {approval}"
                + (f"; {t.description}" if t.description else "")
            )
        if not rows:
            return lines_message(
                "No templates are open to you",
                ["Ask a workspace owner to add you to a template's `allowed` list."],
            )
        return lines_message(
            "Templates you can create",
            rows,
            "Create one with `/env create <template> [name] [--ttl 3d]`.",
        )
