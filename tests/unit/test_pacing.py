"""The drain's pacer: each channel's next slot from its own last send, in-flight sends, 429
holds and the workspace budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.slack.pacing import IN_FLIGHT_POLL, Pacer

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def _ms(n: int) -> timedelta:
    return timedelta(milliseconds=n)


def test_each_channel_is_timed_from_its_own_last_send() -> None:
    # setup: #a goes at T0, #b half a second later
    pacer = Pacer(SECOND)
    assert pacer.start("a", T0) is None
    pacer.done("a")
    assert pacer.start("b", T0 + _ms(500)) is None
    pacer.done("b")
    # execution / validating: each frees a second after its own send
    assert pacer.busy_until("a", T0 + _ms(900)) == T0 + SECOND
    assert pacer.busy_until("b", T0 + SECOND) == T0 + _ms(1500)
    assert pacer.start("a", T0 + SECOND) is None
    assert pacer.start("b", T0 + _ms(1400)) == T0 + _ms(1500)


def test_a_send_in_flight_keeps_its_channel_busy() -> None:
    pacer = Pacer(SECOND)
    assert pacer.start("a", T0) is None
    later = T0 + _ms(1500)  # the send has not answered yet
    assert pacer.start("a", later) == later + IN_FLIGHT_POLL
    pacer.done("a")
    assert pacer.start("a", later) is None


def test_a_little_late_is_caught_up_a_lot_late_is_not() -> None:
    # setup: the second send went 50 ms after its slot
    pacer = Pacer(SECOND)
    pacer.start("a", T0)
    pacer.done("a")
    pacer.start("a", T0 + _ms(1050))
    pacer.done("a")
    # validating: the third slot is two seconds after the first, not after the late send
    assert pacer.busy_until("a", T0 + _ms(1999)) == T0 + 2 * SECOND
    # a send 300 ms late (more than a tenth of a slot) restarts the timing from itself
    pacer.start("a", T0 + _ms(2300))
    pacer.done("a")
    assert pacer.busy_until("a", T0 + _ms(3000)) == T0 + _ms(3300)


def test_a_429_holds_its_channel_for_retry_after() -> None:
    pacer = Pacer(SECOND)
    pacer.start("a", T0)
    pacer.hold("a", T0 + 5 * SECOND)
    pacer.done("a")
    assert pacer.busy_until("a", T0 + 2 * SECOND) == T0 + 5 * SECOND
    assert pacer.busy_until("b", T0 + 2 * SECOND) is None


def test_the_workspace_budget_spans_channels() -> None:
    # setup: 2 a second, 2 deep
    pacer = Pacer(SECOND, workspace_rate=2.0, workspace_burst=2)
    assert pacer.start("a", T0) is None
    assert pacer.start("b", T0) is None
    # execution / validating: a third channel waits for the budget, then goes
    assert pacer.start("c", T0) == T0 + _ms(500)
    assert pacer.workspace_free_at(T0) == T0 + _ms(500)
    assert pacer.start("c", T0 + _ms(500)) is None
    assert Pacer(SECOND).workspace_free_at(T0) is None
