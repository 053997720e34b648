"""external-dns's TXT registry, read as external-dns reads it: labels and the names TXTs stand for.

Mirrors `registry/txt.go` and `endpoint/labels.go` of kubernetes-sigs/external-dns: a registry
TXT value is `"heritage=external-dns,external-dns/owner=<id>,external-dns/resource=<kind/ns/name>"`
(split on commas, each token exactly one `=`); its name is `<prefix><name>` (legacy format) or
`<prefix><type>-<name>` (the new format, `a-`, `aaaa-`, `cname-`, `ns-`), or the prefix itself
carries `%{record_type}`. A TXT labels the records at `(name, set identifier)`; the key of an AAAA
record is separate, so only an `aaaa-` TXT labels it.
"""

from __future__ import annotations

from dataclasses import dataclass

HERITAGE = "external-dns"
RECORD_TYPE = "%{record_type}"
SUPPORTED_TYPES = ("a", "aaaa", "cname", "ns")  # getSupportedTypes(), lower-cased


def parse_labels(value: str) -> dict[str, str] | None:
    """The labels of a registry TXT value, or None when it is not external-dns's.

    Like `NewLabelsFromStringPlain`: quotes trimmed, tokens split on `,`, a token counts only
    with exactly one `=`; `heritage` must be `external-dns`; `external-dns/<key>=<value>` become
    `<key>: <value>`. No substring test: `owner` is compared by the caller as a whole value.
    """
    labels: dict[str, str] = {}
    heritage = False
    for token in value.strip('"').split(","):
        parts = token.split("=")
        if len(parts) != 2:
            continue
        key, val = parts
        if key == "heritage":
            if val != HERITAGE:
                return None
            heritage = True
        elif key.startswith(HERITAGE):
            labels[key.removeprefix(f"{HERITAGE}/")] = val
    return labels if heritage else None


def endpoint_of(txt_name: str, prefix: str) -> tuple[str, str] | None:
    """The record name a registry TXT name stands for and its type ("" for the legacy format).

    Like `affixNameMapper.toEndpointName` with a prefix; None when the name lacks the prefix.
    """
    name, prefix = normalize(txt_name), prefix.lower()
    if RECORD_TYPE in prefix:
        for kind in SUPPORTED_TYPES:
            typed = prefix.replace(RECORD_TYPE, kind)
            if name.startswith(typed):
                return name[len(typed) :], kind
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix) :]
    first = rest.split("-")[0]
    if first in SUPPORTED_TYPES:
        return rest.removeprefix(f"{first}-"), first
    return rest, ""


def normalize(name: str) -> str:
    """Lower case, no trailing dot, and Route53's `\\052` back to `*`."""
    return name.replace("\\052", "*").lower().removesuffix(".")


@dataclass(frozen=True)
class Key:
    """What a TXT labels and a record is labelled by: name, set identifier, AAAA or not."""

    name: str
    set_id: str
    aaaa: bool


def txt_key(txt_name: str, set_id: str, prefix: str) -> tuple[Key, str] | None:
    """The key a registry TXT labels and its type ("" legacy); None for a non-registry name."""
    found = endpoint_of(txt_name, prefix)
    if found is None:
        return None
    name, kind = found
    return Key(name, set_id, kind == "aaaa"), kind


def record_key(name: str, record_type: str, set_id: str) -> Key:
    """The key of an A, AAAA or CNAME record."""
    return Key(normalize(name), set_id, record_type == "AAAA")
