"""Duration parsing and formatting, including a round-trip property."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 2D ", timedelta(days=2)),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "9x", "h", "-1h", "0h", "1.5h", "0 days", "3 fortnights"])
def test_parse_rejects_with_hint(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == f'"{text}" is not a duration (use 30m, 4h, 3d or 1w)'


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("3 days", "write 3d"),
        ("3days", "write 3d"),
        ("3 Days", "write 3d"),
        ("2 hrs", "write 2h"),
        ("1 week, 2 days", "write 1w2d"),
        ("1 day and 12 hours", "write 1d12h"),
        ("1h 2m", "write 1h2m"),
        ("45 min", "write 45m"),
        ("3", "add a unit: 3h or 3d"),
    ],
)
def test_parse_says_what_to_write(text: str, hint: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == f'"{text}" is not a duration ({hint})'
    if hint.startswith("write "):
        assert parse_duration(hint.removeprefix("write ")) > timedelta(0)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=2, hours=4, minutes=5), "2d 4h"),
        (timedelta(minutes=45), "45m"),
        (timedelta(seconds=-5), "0m"),
        (timedelta(seconds=20), "1m"),
    ],
)
def test_format(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@given(st.integers(min_value=1, max_value=10_000), st.sampled_from("mhdw"))
def test_round_trip_through_format(n: int, unit: str) -> None:
    parsed = parse_duration(f"{n}{unit}")
    reparsed = parse_duration(format_duration(parsed, parts=3).replace(" ", ""))
    assert reparsed == parsed
