"""The label and annotation keys envbot puts on every object it creates, the ownership check
applied to what the API server returns, and the helpers that make values and names fit
Kubernetes' syntax."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.errors import NameTaken, PermanentError
from provisioning.ownership import INSTALL_ID as INSTALL_ID
from provisioning.ownership import Claim, Owner

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


def env_owner(env_id: str, install_id: str) -> Owner:
    """The owner every object of an environment must carry."""
    return Owner(ENV_ID, label_value(env_id), install_id)


def grant_labels(grant_id: str, install_id: str) -> dict[str, str]:
    """The labels every object of a grant carries: managed, its grant id and this install."""
    return {MANAGED: "true", GRANT_ID: label_value(grant_id), INSTALL_ID: label_value(install_id)}


def grant_owner(grant_id: str, install_id: str) -> Owner:
    """The owner every object of a grant must carry."""
    return Owner(GRANT_ID, label_value(grant_id), install_id)


def ensure_owned(existing: Mapping[str, Any], owner: Owner, what: str, *, name: str = "") -> Claim:
    """Refuse an object with our name that is not ours; say whether it needs adopting.

    Args:
        existing: the object as the API server returned it.
        owner: who it must belong to.
        what: the object in words, for the refusal.
        name: the environment's name when the clash means the name is taken.

    Returns:
        `Claim.OURS`, or `Claim.LEGACY` (ours from before install ids: add the label).

    Raises:
        NameTaken: `name` was given and the object is not ours.
        PermanentError: the object is not ours (another environment, grant or install).
    """
    labels = meta(existing).get("labels") or {}
    claim = owner.claim(labels)
    if claim is Claim.FOREIGN:
        if name:
            raise NameTaken(name, owner.refusal(what, labels))
        raise PermanentError(owner.refusal(what, labels))
    return claim


def owned(obj: dict[str, Any] | None, owner: Owner) -> dict[str, Any] | None:
    """`obj` when it is ours (or ours from before), else None: what a list found under our
    name but another owner's is, for us, not there."""
    if obj is None or not owner.owns(meta(obj).get("labels")):
        return None
    return obj
