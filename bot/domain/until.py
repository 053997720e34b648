"""Absolute expiry times (`--until "fri 18:00"`, `2026-12-04 18:00`) read in the user's time zone.

Pure: the caller passes the current time and the user's zone (Slack's `users.info` tz), and
gets an aware datetime or a `UntilError` that quotes the text and shows the accepted forms.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.durations import format_duration
from bot.errors import UserError

UNTIL_HINT = 'write a day and a time such as "fri 18:00", "tomorrow 9am" or "2026-12-04 18:00"'
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_WORDS = {
    **{d: i for i, d in enumerate(_DAYS)},
    **{
        full: i
        for i, full in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
    "tues": 1,
    "wednes": 2,
    "thur": 3,
    "thurs": 3,
}
_CLOCK = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?")
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(z|[+-]\d{2}:?\d{2})?"
)
END_OF_DAY = time(23, 59)


class UntilError(ValueError):
    """The text is not a time envbot can read; the message quotes it and says what to write."""

    def __init__(self, text: str, why: str = "") -> None:
        reason = f"{why}; " if why else ""
        super().__init__(f'"{text}" is not a time I can read ({reason}{UNTIL_HINT})')
        self.text = text


def parse_until(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """The moment `text` names, in `tz` unless it carries its own offset, as an aware datetime.

    Forms: `2026-12-04`, `2026-12-04 18:00`, `2026-12-04T18:00Z`, `fri 18:00`, `friday 6pm`,
    `today 17:30`, `tomorrow 9am`, `18:00` (its next occurrence). A day without a time means the
    end of that day (23:59). A weekday is its next occurrence whose time is still ahead.

    Raises:
        UntilError: the text matches none of the forms, or names a date or hour that does not exist.
    """
    cleaned = " ".join(text.strip().lower().split())
    if not cleaned or len(cleaned) > 40:
        raise UntilError(text)
    iso = _ISO.fullmatch(cleaned)
    if iso:
        return _iso(text, iso, tz)
    day_word, _, rest = cleaned.partition(" ")
    local_now = now.astimezone(tz)
    if day_word in ("today", "tomorrow") or day_word in _DAY_WORDS:
        at = _clock(text, rest) if rest else END_OF_DAY
        return _next_on_day(day_word, at, local_now, tz)
    at = _clock(text, cleaned)
    candidate = _local(datetime.combine(local_now.date(), at), tz)
    return (
        candidate
        if candidate > now
        else _local(datetime.combine(local_now.date() + timedelta(days=1), at), tz)
    )


def _iso(text: str, match: re.Match[str], tz: ZoneInfo) -> datetime:
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        on = date(int(year), int(month), int(day))
        at = time(int(hour), int(minute), int(second or 0)) if hour else END_OF_DAY
    except ValueError as exc:
        raise UntilError(text, str(exc)) from None
    naive = datetime.combine(on, at)
    if offset is None:
        return _local(naive, tz)
    if offset == "z":
        return naive.replace(tzinfo=ZoneInfo("UTC"))
    sign = 1 if offset[0] == "+" else -1
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    if delta > timedelta(hours=14):
        raise UntilError(text, f"{offset.upper()} is not a UTC offset")
    try:
        return (naive - sign * delta).replace(tzinfo=ZoneInfo("UTC"))
    except OverflowError:
        raise UntilError(text, "that is out of range") from None


def _clock(text: str, words: str) -> time:
    match = _CLOCK.fullmatch(words)
    if not match:
        raise UntilError(text)
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half:
        if not 1 <= hour <= 12:
            raise UntilError(text, f"{hour}{half} is not an hour")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise UntilError(text, f"{hour}:{minute:02d} is not a time of day")
    return time(hour, minute)


def _next_on_day(word: str, at: time, local_now: datetime, tz: ZoneInfo) -> datetime:
    today = local_now.date()
    if word == "today":
        return _local(datetime.combine(today, at), tz)
    if word == "tomorrow":
        return _local(datetime.combine(today + timedelta(days=1), at), tz)
    ahead = (_DAY_WORDS[word] - today.weekday()) % 7
    candidate = _local(datetime.combine(today + timedelta(days=ahead), at), tz)
    if candidate <= local_now:
        candidate = _local(datetime.combine(today + timedelta(days=ahead + 7), at), tz)
    return candidate


def _local(naive: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in `tz`; in a DST gap or fold the earlier reading is taken."""
    return naive.replace(tzinfo=tz, fold=0)


def looks_like_clock(word: str) -> bool:
    """Whether `word` is a time of day (`18:00`, `6pm`), so `--until fri 18:00` reads as one."""
    lowered = word.lower()
    return _CLOCK.fullmatch(lowered) is not None and (
        ":" in lowered or lowered[-2:] in ("am", "pm")
    )


def starts_until(word: str) -> bool:
    """Whether `word` is a day an absolute time may start with (`fri`, `tomorrow`, a date)."""
    lowered = word.lower()
    if lowered in _DAY_WORDS or lowered in ("today", "tomorrow"):
        return True
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", lowered) is not None


def describe(moment: datetime, tz: ZoneInfo) -> str:
    """How a refusal or an answer shows a moment: `Fri 04 Dec 18:00 (Europe/Berlin)`."""
    return f"{moment.astimezone(tz):%a %d %b %H:%M} ({tz.key})"


def user_zone(name: str) -> ZoneInfo:
    """The zone Slack gives for a user (`users.info` tz); UTC when it is empty or unknown
    (a zone directory such as "America" or an over-long name raises an OSError)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def lifetime_until(text: str, now: datetime, tz_name: str, cap: timedelta, whose: str) -> timedelta:
    """How long from `now` until the `--until` time `text` (in the user's zone `tz_name`).

    Raises:
        UserError: unreadable, in the past, or further than `cap` ("the sandbox template's"
            maximum); the message shows the time as read and the latest allowed.
    """
    tz = user_zone(tz_name)
    try:
        moment = parse_until(text, now, tz)
    except UntilError as exc:
        raise UserError(f"--until {exc}") from None
    if moment <= now:
        raise UserError(
            f'--until "{text}" is {describe(moment, tz)}, which has passed; pick a later time'
        )
    if moment - now > cap:
        raise UserError(
            f'--until "{text}" is {describe(moment, tz)}, past {whose} maximum of '
            f"{format_duration(cap)} (at most {describe(now + cap, tz)}); pick an earlier time"
        )
    return moment - now
