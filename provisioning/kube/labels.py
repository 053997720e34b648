"""The label and annotation keys envbot puts on every object it creates, and the helpers that
make values and names fit Kubernetes' syntax."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.errors import PermanentError
from provisioning.ownership import Owner

MANAGED = "envbot.io/managed"
ENV_ID = "envbot.io/env-id"
GRANT_ID = "envbot.io/grant-id"
OWNER = "envbot.io/owner"
TEMPLATE = "envbot.io/template"
EXPIRES_AT = "envbot.io/expires-at"  # annotation: ISO 8601, informational; refreshed by create()
OWNER_EMAIL = "envbot.io/owner-email"  # annotation
SUBJECT = "envbot.io/subject"  # annotation on grant objects

MANAGED_SELECTOR = f"{MANAGED}=true"

_LABEL_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_DNS_BAD = re.compile(r"[^a-z0-9-]+")


def label_value(text: str) -> str:
    """A valid label value for `text`: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends."""
    value = _LABEL_BAD.sub("-", text)[:63]
    return value.strip("._-")


def dns_label(text: str, prefix: str = "") -> str:
    """A DNS-1123 label (lower case, [a-z0-9-], at most 63) for `prefix + text`."""
    value = _DNS_BAD.sub("-", (prefix + text).lower())[:63].strip("-")
    if not value:
        raise PermanentError(f"cannot derive a Kubernetes name from {prefix + text!r}")
    return value


def grant_name(grant_id: str) -> str:
    """The name of every object of a grant: `envbot-<grant id>` as a DNS label."""
    return dns_label(grant_id, prefix="envbot-")


def iso(when: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a `Z` suffix."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's metadata, or an empty mapping."""
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def key_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object; namespace is "" for cluster-scoped objects."""
    m = meta(obj)
    return str(m.get("namespace") or ""), str(m.get("name") or "")


def mismatches(
    obj: Mapping[str, Any], labels: Mapping[str, str], annotations: Mapping[str, str]
) -> list[str]:
    """The envbot labels/annotations on `obj` that differ from what was set, as readable text."""
    m = meta(obj)
    found: list[str] = []
    for kind, want, have in (
        ("label", labels, m.get("labels") or {}),
        ("annotation", annotations, m.get("annotations") or {}),
    ):
        for key, value in want.items():
            if have.get(key) != value:
                found.append(f"{kind} {key} is {have.get(key)!r}, expected {value!r}")
    return found


def ensure_owned(existing: Mapping[str, Any], key: str, value: str, what: str) -> None:
    """Refuse to adopt an object with our name that another environment or grant owns.

    Raises:
        PermanentError: `existing` lacks `key=value` (a name clash with someone else's object).
    """
    owner = Owner(key, value)
    labels = meta(existing).get("labels") or {}
    if not owner.owns(labels):
        raise PermanentError(owner.refusal(what, labels))
