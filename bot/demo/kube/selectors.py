"""Kubernetes label and field selector parsing and matching for the fake API server."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_SET_RE = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^)]*)\)$")
_EQ_RE = re.compile(rf"^({_KEY})\s*(==|!=|=)\s*({_VALUE})$")
_EXISTS_RE = re.compile(rf"^(!?)\s*({_KEY})$")
_CMP_RE = re.compile(rf"^({_KEY})\s*(<|>)\s*(-?[0-9]+)$")


class SelectorError(ValueError):
    """A selector string that a real API server would reject with 400 BadRequest."""


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector."""

    key: str
    op: str  # one of: =, !=, in, notin, exists, !, <, >
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op in ("<", ">"):
            if value is None or not re.fullmatch(r"-?[0-9]+", value):
                return False
            bound = int(next(iter(self.values)))
            return int(value) < bound if self.op == "<" else int(value) > bound
        raise SelectorError(f"unknown operator {self.op}")


def _split_terms(selector: str) -> list[str]:
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    terms.append("".join(current).strip())
    return [term for term in terms if term]


def parse_label_selector(selector: str) -> list[Requirement]:
    """Parse `a=b,c!=d,e in (f,g),h notin (i),j,!k` into requirements."""
    requirements: list[Requirement] = []
    for term in _split_terms(selector):
        if match := _SET_RE.match(term):
            values = frozenset(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append(Requirement(match.group(1), match.group(2), values))
        elif match := _EQ_RE.match(term):
            op = "=" if match.group(2) == "==" else match.group(2)
            requirements.append(Requirement(match.group(1), op, frozenset([match.group(3)])))
        elif match := _CMP_RE.match(term):
            requirements.append(
                Requirement(match.group(1), match.group(2), frozenset([match.group(3)]))
            )
        elif match := _EXISTS_RE.match(term):
            op = "!" if match.group(1) else "exists"
            requirements.append(Requirement(match.group(2), op))
        else:
            raise SelectorError(f"unable to parse requirement: {term!r}")
    return requirements


def match_label_selector(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    """Whether all requirements hold for the labels."""
    return all(req.matches(labels or {}) for req in requirements)


@dataclass(frozen=True)
class FieldRequirement:
    """One `field=value` or `field!=value` term of a field selector."""

    field: str
    negate: bool
    value: str


def parse_field_selector(selector: str, supported: frozenset[str]) -> list[FieldRequirement]:
    """Parse a field selector, rejecting fields the resource does not support."""
    requirements: list[FieldRequirement] = []
    for term in _split_terms(selector):
        match = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)", term)
        if not match:
            raise SelectorError(f"invalid selector: {term!r}; can't understand {term!r}")
        field = match.group(1)
        if field not in supported:
            raise SelectorError(f'field label not supported: "{field}"')
        requirements.append(FieldRequirement(field, match.group(2) == "!=", match.group(3)))
    return requirements


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    return "" if current is None else str(current)


def match_field_selector(requirements: list[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    """Whether all field requirements hold for the object."""
    return all((_field_value(obj, r.field) == r.value) != r.negate for r in requirements)
