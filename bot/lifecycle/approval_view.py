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
    escalates_at: datetime | None = None  # when the escalation group becomes eligible
    escalation: str = ""  # that group in plain text, `@platform-leads` (no ping before it is due)
    dms: tuple[str, ...] = ()  # who got a DM copy of the card (`dm_copies.py`), in order

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> ApprovalState | None:
        """The state in `raw`, or None for an object filed before N of M approvals."""
        if not raw or "required" not in raw:
            return None
        until, escalates_at = raw.get("until"), raw.get("escalates_at")
        return cls(
            required=int(raw["required"]),
            votes=tuple((str(u), _at(at)) for u, at in raw.get("votes", [])),
            eligible=frozenset(raw.get("eligible", [])),
            until=_at(until) if until is not None else None,
            mention=str(raw.get("mention", "")),
            escalated=bool(raw.get("escalated", False)),
            escalates_at=_at(escalates_at) if escalates_at is not None else None,
            escalation=str(raw.get("escalation", "")),
            dms=tuple(str(u) for u in raw.get("dms", [])),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "required": self.required,
            "votes": [[u, int(at.timestamp())] for u, at in self.votes],
            "eligible": sorted(self.eligible),
            "until": int(self.until.timestamp()) if self.until is not None else None,
            "mention": self.mention,
            "escalated": self.escalated,
            "escalates_at": (
                int(self.escalates_at.timestamp()) if self.escalates_at is not None else None
            ),
            "escalation": self.escalation,
            "dms": list(self.dms),
        }

    @property
    def voters(self) -> frozenset[str]:
        return frozenset(u for u, _ in self.votes)

    @property
    def counted(self) -> tuple[tuple[str, datetime], ...]:
        """The votes that count: by people eligible when the column was last written (a vote
        by an owner removed from the group since no longer counts, as `votes.py` decides)."""
        return tuple((u, at) for u, at in self.votes if u in self.eligible)

    @property
    def missing(self) -> int:
        """How many more approvals it needs."""
        return max(0, self.required - len(self.counted))


def _at(epoch: object) -> datetime:
    return datetime.fromtimestamp(int(str(epoch)), UTC)


def count_line(state: ApprovalState) -> str:
    """`1 of 2 approvals: <@carol> at <date>`, then any votes that no longer count."""
    done = ", ".join(f"<@{u}> at {slack_time(at)}" for u, at in state.counted)
    word = "approval" if state.required == 1 else "approvals"
    line = f"{len(state.counted)} of {state.required} {word}" + (f": {done}" if done else "")
    gone = [u for u, _ in state.votes if u not in state.eligible]
    if gone:
        line += f" (not counted, no longer eligible: {', '.join(f'<@{u}>' for u in gone)})"
    return line


def pending_ping(raw: Mapping[str, Any] | None) -> str:
    """The owners' group mention for a pending card's top-level `text` (" <!subteam^ID>"), or "".
    Mobile notifications show only `text` (desktop ones read the blocks first), so the group
    is named there as well as in the card's lines."""
    state = ApprovalState.of(raw)
    return f" {state.mention}" if state is not None and state.mention else ""


def pending_blocks(raw: Mapping[str, Any] | None, workspace: str) -> list[Block]:
    """The lines of a pending card: the count, who may still decide, and until when."""
    state = ApprovalState.of(raw)
    if state is None:
        return []
    who = f"{state.mention} (owners of {workspace})" if state.mention else f"owners of {workspace}"
    escalated = " and, escalated, its escalation group" if state.escalated else ""
    until = f" until {slack_time(state.until)}" if state.until is not None else ""
    return [
        context(count_line(state)),
        context(f"Waiting for {who}{escalated}{until}; may decide: {_deciders(state)}"),
    ]


def _deciders(state: ApprovalState) -> str:
    """Who may still decide, and who will once it escalates (when that is still to come)."""
    still = state.eligible - state.voters
    if state.escalated or state.escalates_at is None or not state.escalation:
        return names(still)
    later = f"{state.escalation} (its escalation group)"
    when = slack_time(state.escalates_at)
    if not still:
        return f"nobody until {when}, then {later}"
    return f"{names(still)}; from {when} also {later}"


def decided_blocks(raw: Mapping[str, Any] | None) -> list[Block]:
    """After the decision, the approvals it had (when it needed more than one)."""
    state = ApprovalState.of(raw)
    if state is None or state.required < 2 or not state.votes:
        return []
    return [context(count_line(state))]
