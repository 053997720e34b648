"""Parse and format the durations used in commands and the policy: `30m`, `4h`, `3d`, `1w`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"(?:\d+[smhdw])+")
# Longer than any TTL a policy allows, yet far below timedelta's limit (999999999 days) and
# small enough that now + it stays a valid datetime; `--ttl 9223372036854775808s` used to
# overflow timedelta into an unhandled OverflowError.
MAX_DURATION = timedelta(weeks=100_000)
DURATION_HINT = "use 30m, 4h, 3d or 1w"


# How people write durations in words (`3 days`, `2 hrs`, `1 week 2 days`): each unit word is
# mapped to the letter envbot reads, so the refusal can say exactly what to write instead.
UNIT_WORDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "w"),
}
_SPOKEN_PART = re.compile(r"(\d+)\s*([a-z]+)")
_SPOKEN = re.compile(r"(?:\d+\s*[a-z]+[\s,]*(?:and\s+)?)+")


def suggestion(text: str) -> str | None:
    """What to write for a duration spelt out in words (`3 days` -> `3d`), or None."""
    cleaned = text.strip().lower()
    if len(cleaned) > 60 or not _SPOKEN.fullmatch(cleaned):
        return None
    parts = _SPOKEN_PART.findall(cleaned)
    if any(unit not in UNIT_WORDS or int(n) == 0 for n, unit in parts):
        return None
    written = "".join(f"{int(n)}{UNIT_WORDS[unit]}" for n, unit in parts)
    return written if written != cleaned else None


class DurationError(ValueError):
    """The text is not a duration; the message quotes it and says what to write instead."""

    def __init__(self, text: str) -> None:
        better = suggestion(text)
        bare = text.strip()
        if better:
            hint = f"write {better}"
        elif bare.isdecimal() and len(bare) < 10:
            hint = f"add a unit: {int(bare)}h or {int(bare)}d"
        else:
            hint = DURATION_HINT
        super().__init__(f'"{text}" is not a duration ({hint})')
        self.text = text
        self.suggestion = better


def parse_duration(text: str) -> timedelta:
    """Parse `30m`, `4h`, `3d`, `1w` or a combination such as `1d12h` into a positive timedelta.

    Raises:
        DurationError: the text is empty, malformed or zero.
    """
    cleaned = text.strip().lower()
    # A real duration is a few characters; the bound also keeps int() away from huge digit runs.
    if len(cleaned) > 40 or not _WHOLE.fullmatch(cleaned):
        raise DurationError(text)
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    if seconds <= 0 or seconds > MAX_DURATION.total_seconds():
        raise DurationError(text)
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta, parts: int = 2) -> str:
    """Format a duration, largest `parts` units first: `2d 4h`, `45m`, `0m` for the past."""
    total = int(delta.total_seconds())
    if total <= 0:
        return "0m"
    shown: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        n, total = divmod(total, size)
        if n:
            shown.append(f"{n}{unit}")
    if not shown:
        return "1m"
    return " ".join(shown[:parts])
