"""`--until` times read in the user's Slack zone: the forms, zones and DST, and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.until import UntilError, lifetime_until, parse_until, user_zone
from bot.errors import UserError

# Monday 2026-11-30 15:00 UTC is 16:00 in Berlin and 10:00 in New York.
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("fri 18:00", datetime(2026, 12, 4, 18, 0, tzinfo=BERLIN)),
        ("Friday 6pm", datetime(2026, 12, 4, 18, 0, tzinfo=BERLIN)),
        ("today 17:30", datetime(2026, 11, 30, 17, 30, tzinfo=BERLIN)),
        ("tomorrow 9am", datetime(2026, 12, 1, 9, 0, tzinfo=BERLIN)),
        ("18:00", datetime(2026, 11, 30, 18, 0, tzinfo=BERLIN)),
        ("15:30", datetime(2026, 12, 1, 15, 30, tzinfo=BERLIN)),  # passed today: tomorrow's
        (
            "mon 10:00",
            datetime(2026, 12, 7, 10, 0, tzinfo=BERLIN),
        ),  # passed this Monday: next week's
        ("2026-12-04", datetime(2026, 12, 4, 23, 59, tzinfo=BERLIN)),
        ("2026-12-04 18:00", datetime(2026, 12, 4, 18, 0, tzinfo=BERLIN)),
        ("fri", datetime(2026, 12, 4, 23, 59, tzinfo=BERLIN)),
    ],
)
def test_forms_are_read_in_the_users_zone(text: str, local: datetime) -> None:
    assert parse_until(text, NOW, BERLIN) == local


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-12-04T18:00Z", datetime(2026, 12, 4, 18, 0, tzinfo=UTC)),
        ("2026-12-04T18:00+05:30", datetime(2026, 12, 4, 12, 30, tzinfo=UTC)),
        ("2026-12-04 18:00-0800", datetime(2026, 12, 5, 2, 0, tzinfo=UTC)),
    ],
)
def test_an_iso_time_with_an_offset_keeps_it(text: str, utc: datetime) -> None:
    assert parse_until(text, NOW, BERLIN) == utc


def test_a_wall_clock_across_a_dst_change_keeps_its_hour() -> None:
    # Friday 2027-03-26 in New York is after the US change (March 14): 18:00 EDT is 22:00 UTC
    now = datetime(2027, 3, 22, 12, 0, tzinfo=UTC)
    got = parse_until("fri 18:00", now, ZoneInfo("America/New_York"))
    assert got.astimezone(UTC) == datetime(2027, 3, 26, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("whenever", ""),
        ("25:00", "25:00 is not a time of day"),
        ("mon 13pm", "13pm is not an hour"),
        ("2026-02-30", "day is out of range for month"),
        ("2026-12-04T18:00+15:00", "+15:00 is not a UTC offset"),
        ("", ""),
    ],
)
def test_unreadable_times_quote_the_text_and_show_the_forms(text: str, why: str) -> None:
    with pytest.raises(UntilError) as info:
        parse_until(text, NOW, BERLIN)
    message = str(info.value)
    assert message.startswith(f'"{text}" is not a time I can read (')
    assert why in message
    assert '"fri 18:00"' in message


def test_lifetime_until_refuses_the_past_and_beyond_the_cap() -> None:
    cap = timedelta(days=7)
    assert lifetime_until("fri 18:00", NOW, "Europe/Berlin", cap, "x") == timedelta(days=4, hours=2)
    with pytest.raises(UserError) as past:
        lifetime_until("today 9:00", NOW, "Europe/Berlin", cap, "the dev template's")
    assert str(past.value) == (
        '--until "today 9:00" is Mon 30 Nov 09:00 (Europe/Berlin), which has passed; '
        "pick a later time"
    )
    with pytest.raises(UserError) as far:
        lifetime_until("2026-12-24", NOW, "Europe/Berlin", cap, "the dev template's")
    assert str(far.value) == (
        '--until "2026-12-24" is Thu 24 Dec 23:59 (Europe/Berlin), past the dev template\'s '
        "maximum of 7d (at most Mon 07 Dec 16:00 (Europe/Berlin)); pick an earlier time"
    )
    with pytest.raises(UserError, match="--until"):
        lifetime_until("soon", NOW, "Europe/Berlin", cap, "x")


def test_an_unknown_or_empty_zone_reads_as_utc() -> None:
    cap = timedelta(days=7)
    for zone in ("", "Mars/Olympus"):
        assert lifetime_until("today 18:00", NOW, zone, cap, "x") == timedelta(hours=3)


zones = st.sampled_from(
    ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Apia"]
)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2090, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(st.text(max_size=40), instants, zones)
def test_any_text_gives_an_aware_time_or_a_clear_error(text: str, now: datetime, zone: str) -> None:
    try:
        got: datetime | UntilError = parse_until(text, now, ZoneInfo(zone))
    except UntilError as exc:
        got = exc
    if isinstance(got, UntilError):
        assert str(got).startswith(f'"{text}" is not a time I can read')
    else:
        assert got.tzinfo is not None


@given(
    st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
    st.integers(0, 23),
    st.integers(0, 59),
    instants,
    zones,
)
def test_a_weekday_is_its_next_occurrence(
    day: str, hour: int, minute: int, now: datetime, zone: str
) -> None:
    got = parse_until(f"{day} {hour}:{minute:02d}", now, ZoneInfo(zone))
    assert now < got <= now + timedelta(days=7, hours=2)  # two hours of slack for a DST gap
    assert f"{got.astimezone(ZoneInfo(zone)):%a}".lower() == day


@pytest.mark.parametrize("tz", ["", "Not/AZone", "America", "Etc", "x" * 300, "../../etc/passwd"])
def test_a_missing_or_invalid_slack_zone_is_utc(tz: str) -> None:
    # a zone directory ("America") or an over-long name made ZoneInfo raise an OSError
    assert user_zone(tz) == ZoneInfo("UTC")
