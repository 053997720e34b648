"""clusterctl-style `${VARIABLE}` placeholders in cluster templates: find them and fill them in.

The syntax is the subset of drone/envsubst that clusterctl templates use: `${NAME}`, and a
default with `${NAME:=default}` or `${NAME:-default}` (`=`/`-` without the colon too; envbot
never sets a variable to the empty string, so the colon makes no difference). Names are
`[A-Za-z_][A-Za-z0-9_]*`. `$NAME` without braces and `$(NAME)` are left alone: kubeadm commands
and container args use them for the shell and for Kubernetes' own substitution.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

PLACEHOLDER_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
PLACEHOLDER = re.compile(
    r"\$\{(?P<name>" + PLACEHOLDER_NAME + r")(?:(?P<op>:?[=-])(?P<default>[^}]*))?\}"
)


@dataclass(frozen=True)
class Placeholder:
    """One `${...}` occurrence: its name and, when written, its default."""

    name: str
    default: str | None


class MissingVariables(ValueError):
    """Placeholders without a value or a default; `names` lists them, sorted, once each."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__("no value for " + ", ".join(f"${{{n}}}" for n in names))


def placeholders(text: str) -> list[Placeholder]:
    """Every placeholder in `text`, in order of appearance."""
    return [
        Placeholder(m["name"], m["default"] if m["op"] is not None else None)
        for m in PLACEHOLDER.finditer(text)
    ]


def missing(text: str, values: Mapping[str, str]) -> list[str]:
    """The names in `text` that have neither a value in `values` nor a default, sorted."""
    return sorted({p.name for p in placeholders(text) if p.default is None} - set(values))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace every placeholder with its value, else its default.

    Raises:
        MissingVariables: a placeholder has neither; nothing is substituted.
    """
    absent = missing(text, values)
    if absent:
        raise MissingVariables(absent)

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        return values[name] if name in values else str(match["default"])

    return PLACEHOLDER.sub(fill, text)
