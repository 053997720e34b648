"""Annotated policy field types (durations, principals, channels, times) that quote bad values."""

from __future__ import annotations

import re
from datetime import time, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from bot.domain.durations import DURATION_HINT, DurationError, parse_duration

_ZERO_DURATION = re.compile(r"(?:0+[smhdw])+")
_GROUP = re.compile(r"@([a-z0-9][a-z0-9._-]*)")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CHANNEL = re.compile(r"#[a-z0-9][a-z0-9._-]{0,79}|C[A-Z0-9]{6,}")
_HHMM = re.compile(r"(\d{1,2}):(\d{2})")
_URL = re.compile(r"https?://[^\s/]+\S*")
_QUANTITY = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+|[KMGTPE]i|[mkMGTPE])?")
_KUBE_VERSION = re.compile(r"v\d+\.\d+\.\d+\S*")
DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
PRINCIPAL_HINT = "use @group-handle, a user id like U024BE7LH, or an email"
_STRING_SCHEMA = WithJsonSchema({"type": "string"})


def show(value: object) -> str:
    """Render a YAML value for an error message: strings quoted, containers named.

    Args:
        value: anything `yaml.safe_load` can produce.

    Returns:
        A short, human-readable rendering such as `"9x"`, `42`, `a list` or `nothing (null)`.
    """
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= 60 else f'"{value[:57]}..."'
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def duration_text(delta: timedelta) -> str:
    """Write a duration exactly, in the policy's syntax (`2w`, `1d12h`), so that it parses back.

    Args:
        delta: a whole number of seconds.

    Returns:
        The compact text, largest units first; `0s` for zero.
    """
    total = int(delta.total_seconds())
    parts: list[str] = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def to_duration(value: object) -> timedelta:
    """Validate a policy duration: a positive `timedelta`, or text that `parse_duration` reads.

    Raises:
        ValueError: not a duration, or zero; the message quotes the value.
    """
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValueError(f"{value} must be longer than zero")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{show(value)} is not a duration ({DURATION_HINT})")
    try:
        return parse_duration(value)
    except DurationError:
        if _ZERO_DURATION.fullmatch(value.strip().lower()):
            raise ValueError(f'"{value}" must be longer than zero') from None
        raise


Duration = Annotated[
    timedelta,
    PlainValidator(to_duration),
    PlainSerializer(duration_text, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+[smhdw])+$"}),
]
"""A positive duration written `30m`, `4h`, `3d`, `1w` (or combined, `1d12h`)."""


class PrincipalKind(StrEnum):
    """How a principal is written in `owners` and `allowed`."""

    GROUP = "group"  # @handle of a Slack user group
    USER = "user"  # Slack user id, U… or W…
    EMAIL = "email"  # the email in the user's Slack profile


class Principal(BaseModel):
    """A person or a Slack user group named in the policy; `str()` gives the policy syntax back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PrincipalKind
    value: str  # the handle without "@", the user id, or the lower-cased email

    def __str__(self) -> str:
        return f"@{self.value}" if self.kind is PrincipalKind.GROUP else self.value


class PrincipalError(ValueError):
    """The text is not a group handle, a user id or an email."""


def parse_principal(text: str) -> Principal:
    """Parse `@sandbox-owners`, `U024BE7LH` or `bob@example.com` into a `Principal`.

    Args:
        text: one entry of `owners` or `allowed`.

    Returns:
        The principal; group handles and emails are lower-cased.

    Raises:
        PrincipalError: the text matches none of the three forms.
    """
    cleaned = text.strip()
    if group := _GROUP.fullmatch(cleaned.lower()):
        return Principal(kind=PrincipalKind.GROUP, value=group.group(1))
    if _USER_ID.fullmatch(cleaned):
        return Principal(kind=PrincipalKind.USER, value=cleaned)
    if _EMAIL.fullmatch(cleaned):
        return Principal(kind=PrincipalKind.EMAIL, value=cleaned.lower())
    raise PrincipalError(f'"{text}" is not a user, group or email ({PRINCIPAL_HINT})')


def _to_principal(value: object) -> Principal:
    if isinstance(value, Principal):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{show(value)} is not a user, group or email ({PRINCIPAL_HINT})")
    return parse_principal(value)


PrincipalRef = Annotated[
    Principal,
    PlainValidator(_to_principal),
    PlainSerializer(str, return_type=str, when_used="json"),
    _STRING_SCHEMA,
]


def _to_channel(value: object) -> str:
    if value is None:
        raise ValueError(
            'is empty: quote the channel ("#name"), an unquoted # starts a YAML comment'
        )
    if not isinstance(value, str) or not _CHANNEL.fullmatch(value):
        raise ValueError(f'{show(value)} is not a channel (use "#name" or an id like C0123ABCD)')
    return value


Channel = Annotated[str, PlainValidator(_to_channel), _STRING_SCHEMA]
"""A Slack channel: `#name` or a channel id `C…`."""


def to_time(value: object) -> time:
    """Validate a time of day written `HH:MM`.

    Raises:
        ValueError: not a time of day; the message quotes the value, and says to quote an
            unquoted `20:00` that YAML read as the number 1200.
    """
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        # YAML 1.1 reads an unquoted 20:00 as the base-60 number 1200.
        text = f"{value // 60:02d}:{value % 60:02d}"
        raise ValueError(f'{text} must be quoted ("{text}"); unquoted, YAML reads it as a number')
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"{show(value)} is not a time of day (use HH:MM, e.g. 08:00)")
    return time(int(match.group(1)), int(match.group(2)))


TimeOfDay = Annotated[
    time,
    PlainValidator(to_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$"}),
]


def _check_url(value: str) -> str:
    if not _URL.fullmatch(value):
        raise ValueError(f"{show(value)} is not a URL (use https://host/path)")
    return value


HttpUrl = Annotated[str, AfterValidator(_check_url)]


def _to_quantity(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise ValueError(f'{show(value)} is not a Kubernetes quantity (e.g. "4", 500m, 8Gi)')
    return value


Quantity = Annotated[str, PlainValidator(_to_quantity), _STRING_SCHEMA]


def _check_kube_version(value: str) -> str:
    if not _KUBE_VERSION.fullmatch(value):
        raise ValueError(f"{show(value)} is not a Kubernetes version (use v1.30.5)")
    return value


KubeVersion = Annotated[str, AfterValidator(_check_kube_version)]


def pattern_text(pattern: str, what: str) -> AfterValidator:
    """Build a validator for text that must match `pattern`, with a message saying what it is.

    Args:
        pattern: a regular expression the whole text must match.
        what: the expected form, e.g. `an AWS region (e.g. us-west-2)`.

    Returns:
        An `AfterValidator` for `Annotated[str, ...]`.
    """
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{show(value)} is not {what}")
        return value

    return AfterValidator(check)
