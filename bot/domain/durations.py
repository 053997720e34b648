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


class DurationError(ValueError):
    """The text is not a duration; the message quotes it and gives the accepted forms."""

    def __init__(self, text: str) -> None:
        super().__init__(f'"{text}" is not a duration ({DURATION_HINT})')
        self.text = text


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
