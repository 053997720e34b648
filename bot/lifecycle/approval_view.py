"""What a card shows of its approvals (N of M, who approved when, who may still decide, until
when), read from the object's `approval` column: a pure builder, no I/O.

The column is written in the same transaction as each vote and each escalation
(`votes.py`, `escalation.py`), so the card is re-rendered from state like everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import Block

from bot.lifecycle.eligible import names
from bot.slack.acted import slack_time
from bot.slack.blocks import context


@dataclass(frozen=True)
class ApprovalState:
    """The `approval` column, typed."""

    required: int
    votes: tuple[tuple[str, datetime], ...]  # (approver, when), in order
    eligible: frozenset[str]  # who may decide now (a snapshot; clicks are checked live)
    until: datetime | None  # the request's own expiry (its pending timeout)
    mention: str  # the owners' user group, `<!subteam^ID>`, or ""
    escalated: bool

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> ApprovalState | None:
        """The state in `raw`, or None for an object filed before N of M approvals."""
        if not raw or "required" not in raw:
            return None
        until = raw.get("until")
        return cls(
            required=int(raw["required"]),
            votes=tuple((str(u), _at(at)) for u, at in raw.get("votes", [])),
            eligible=frozenset(raw.get("eligible", [])),
            until=_at(until) if until is not None else None,
            mention=str(raw.get("mention", "")),
            escalated=bool(raw.get("escalated", False)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "required": self.required,
            "votes": [[u, int(at.timestamp())] for u, at in self.votes],
            "eligible": sorted(self.eligible),
            "until": int(self.until.timestamp()) if self.until is not None else None,
            "mention": self.mention,
            "escalated": self.escalated,
        }

    @property
    def voters(self) -> frozenset[str]:
        return frozenset(u for u, _ in self.votes)

    @property
    def missing(self) -> int:
        """How many more approvals it needs."""
        return max(0, self.required - len(self.votes))


def _at(epoch: object) -> datetime:
    return datetime.fromtimestamp(int(str(epoch)), UTC)


def count_line(state: ApprovalState) -> str:
    """`1 of 2 approvals: <@carol> at <date>`."""
    done = ", ".join(f"<@{u}> at {slack_time(at)}" for u, at in state.votes)
    word = "approval" if state.required == 1 else "approvals"
    return f"{len(state.votes)} of {state.required} {word}" + (f": {done}" if done else "")


def pending_blocks(raw: Mapping[str, Any] | None, workspace: str) -> list[Block]:
    """The lines of a pending card: the count, who may still decide, and until when."""
    state = ApprovalState.of(raw)
    if state is None:
        return []
    still = names(state.eligible - state.voters)
    who = f"{state.mention} (owners of {workspace})" if state.mention else f"owners of {workspace}"
    escalated = " and, escalated, its escalation group" if state.escalated else ""
    until = f" until {slack_time(state.until)}" if state.until is not None else ""
    return [
        context(count_line(state)),
        context(f"Waiting for {who}{escalated}{until}; may decide: {still}"),
    ]


def decided_blocks(raw: Mapping[str, Any] | None) -> list[Block]:
    """After the decision, the approvals it had (when it needed more than one)."""
    state = ApprovalState.of(raw)
    if state is None or state.required < 2 or not state.votes:
        return []
    return [context(count_line(state))]
