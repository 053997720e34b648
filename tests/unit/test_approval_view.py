"""The card's N of M lines, read from the `approval` column: counts, names, times, limits."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import Block

from bot.lifecycle.approval_view import ApprovalState, decided_blocks, pending_blocks
from bot.lifecycle.eligible import names

AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
UNTIL = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


def _texts(blocks: list[Block]) -> list[str]:
    return [str(b.to_dict()["elements"][0]["text"]) for b in blocks]


def test_one_of_two_names_who_approved_when_and_who_may_still_decide() -> None:
    state = ApprovalState(2, (("U0CAROL", AT),), frozenset({"U0CAROL", "U0ERIN"}), UNTIL, "", False)
    raw = state.to_json()

    count, waiting = _texts(pending_blocks(raw, "production"))

    assert ApprovalState.of(raw) == state
    assert count == (
        "1 of 2 approvals: <@U0CAROL> at "
        "<!date^1767605400^{date_short_pretty} at {time}|2026-01-05 09:30 UTC>"
    )
    assert waiting.startswith("Waiting for owners of production until <!date^1767632400^")
    assert waiting.endswith("; may decide: <@U0ERIN>")


def test_escalated_with_a_group_mention() -> None:
    raw = ApprovalState(
        1, (), frozenset({"U0BOB"}), None, "<!subteam^S0PRDOWNERS>", escalated=True
    ).to_json()

    _, waiting = _texts(pending_blocks(raw, "production"))

    assert waiting == (
        "Waiting for <!subteam^S0PRDOWNERS> (owners of production) and, escalated, its "
        "escalation group; may decide: <@U0BOB>"
    )


def test_a_request_filed_before_n_of_m_shows_nothing_new() -> None:
    assert pending_blocks({}, "sandbox") == []
    assert decided_blocks(None) == []


def test_one_approval_is_not_repeated_once_decided() -> None:
    one = ApprovalState(1, (("U0BOB", AT),), frozenset(), None, "", False).to_json()
    both = frozenset({"U0BOB", "U0ERIN"})  # the voters were eligible when the last one voted
    two = ApprovalState(2, (("U0BOB", AT), ("U0ERIN", AT)), both, None, "", False)

    assert decided_blocks(one) == []
    assert _texts(decided_blocks(two.to_json()))[0].startswith("2 of 2 approvals: <@U0BOB> at")


def test_a_large_group_stays_within_block_kit_limits() -> None:
    many = frozenset(f"U{i:08d}" for i in range(500))
    raw = ApprovalState(3, (), many, UNTIL, "", False).to_json()

    _, waiting = _texts(pending_blocks(raw, "production"))

    assert waiting.endswith("and 480 more")
    assert len(waiting) <= 2000
    assert names(frozenset()) == "nobody"


def test_a_vote_by_someone_no_longer_eligible_is_shown_but_not_counted() -> None:
    votes = (("U0CAROL", AT), ("U0ERIN", AT))
    state = ApprovalState(2, votes, frozenset({"U0ERIN", "U0DAVE"}), UNTIL, "", False)

    count, waiting = _texts(pending_blocks(state.to_json(), "production"))

    assert state.missing == 1
    assert count.startswith("1 of 2 approvals: <@U0ERIN> at <!date^")
    assert count.endswith("(not counted, no longer eligible: <@U0CAROL>)")
    assert waiting.endswith("; may decide: <@U0DAVE>")


def test_before_escalation_the_card_says_who_decides_from_when() -> None:
    soon = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    lead = "@platform-leads"
    alone = ApprovalState(2, (("U0ERIN", AT),), frozenset({"U0ERIN"}), UNTIL, "", False, soon, lead)
    more = ApprovalState(2, (), frozenset({"U0ERIN"}), UNTIL, "", False, soon, lead)

    _, nobody = _texts(pending_blocks(alone.to_json(), "production"))
    _, erin = _texts(pending_blocks(more.to_json(), "production"))

    assert ApprovalState.of(alone.to_json()) == alone
    assert nobody.endswith(
        f"may decide: nobody until <!date^1767607200^{{date_short_pretty}} at {{time}}|"
        f"2026-01-05 10:00 UTC>, then {lead} (its escalation group)"
    )
    assert "may decide: <@U0ERIN>; from <!date^1767607200^" in erin
