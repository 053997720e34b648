"""Evaluates a ValidatingAdmissionPolicy's CEL against admission requests with cel-python, the
way the API server does: matchConstraints, then matchConditions, then lazily evaluated variables
and each validation; an expression that errors refuses the request (failurePolicy: Fail)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import yaml
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

# cel-go errors on a field selection of null; cel-python answers has(null.x) with false. So on a
# DELETE, any expression that reads `object.` is an error here too, as it would be on a real server.
_READS_OBJECT = re.compile(r"(?<![A-Za-z_.])object\.")


@dataclass(frozen=True)
class Decision:
    """What the API server would do with one request."""

    matched: bool
    allowed: bool
    messages: tuple[str, ...] = ()
    evaluated: tuple[str, ...] = ()  # the variables that were evaluated, in order


class _Lazy(celtypes.MapType):
    """`variables`: each one evaluated on first use; an error becomes a CEL error value."""

    def __init__(self, fns: Mapping[str, Callable[[], Any]]) -> None:
        super().__init__({})
        self.fns = fns
        self.cache: dict[str, Any] = {}
        self.order: list[str] = []

    def __getitem__(self, key: Any) -> Any:
        name = str(key)
        if name not in self.cache:
            self.order.append(name)
            try:
                self.cache[name] = self.fns[name]()
            except CELEvalError as exc:
                self.cache[name] = exc
        return self.cache[name]

    def __contains__(self, key: object) -> bool:
        return str(key) in self.fns


class AdmissionPolicy:
    """One ValidatingAdmissionPolicy document, ready to judge requests."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.spec: Mapping[str, Any] = doc["spec"]
        self._env = celpy.Environment()
        self._programs: dict[str, Any] = {}

    @classmethod
    def load(cls, path: Path) -> tuple[AdmissionPolicy, Mapping[str, Any]]:
        """The policy and its binding from one manifest file."""
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        by_kind = {d["kind"]: d for d in docs}
        return (
            cls(by_kind["ValidatingAdmissionPolicy"]),
            by_kind["ValidatingAdmissionPolicyBinding"],
        )

    def expressions(self) -> list[str]:
        """Every CEL expression in the policy (for compile checks)."""
        spec = self.spec
        found = [m["expression"] for m in spec.get("matchConditions", [])]
        found += [v["expression"] for v in spec.get("variables", [])]
        for v in spec.get("validations", []):
            found.append(v["expression"])
            if "messageExpression" in v:
                found.append(v["messageExpression"])
        return found

    def compile(self, expression: str) -> Any:
        if expression not in self._programs:
            self._programs[expression] = self._env.program(self._env.compile(expression))
        return self._programs[expression]

    def matches_resource(self, request: Mapping[str, Any]) -> bool:
        res, op = request["resource"], request["operation"]
        for rule in self.spec["matchConstraints"]["resourceRules"]:
            if (
                res["group"] in rule["apiGroups"]
                and ("*" in rule["apiVersions"] or res["version"] in rule["apiVersions"])
                and res["resource"] in rule["resources"]
                and ("*" in rule["operations"] or op in rule["operations"])
            ):
                return True
        return False

    def review(self, request: Mapping[str, Any]) -> Decision:
        """Judge one admission request (`object`/`oldObject` inside it, as in AdmissionReview)."""
        if not self.matches_resource(request):
            return Decision(matched=False, allowed=True)
        delete = request["operation"] == "DELETE"
        activation: dict[str, Any] = {
            "object": json_to_cel(request.get("object")),
            "oldObject": json_to_cel(request.get("oldObject")),
            "request": json_to_cel(
                {k: v for k, v in request.items() if k not in ("object", "oldObject")}
            ),
        }

        def run(expression: str) -> Any:
            if delete and _READS_OBJECT.search(expression):
                raise CELEvalError(f"object is null on DELETE: {expression}")
            return self.compile(expression).evaluate(activation)

        try:
            for condition in self.spec.get("matchConditions", []):
                if not bool(run(condition["expression"])):
                    return Decision(matched=False, allowed=True)
        except CELEvalError as exc:
            return Decision(matched=True, allowed=False, messages=(f"matchCondition error: {exc}",))

        def later(expression: str) -> Callable[[], Any]:
            return lambda: run(expression)

        variables = _Lazy(
            {v["name"]: later(v["expression"]) for v in self.spec.get("variables", [])}
        )
        activation["variables"] = variables
        messages: list[str] = []
        for validation in self.spec["validations"]:
            try:
                ok = run(validation["expression"])
            except CELEvalError as exc:
                messages.append(f"expression error (failurePolicy Fail): {exc}")
                continue
            if isinstance(ok, CELEvalError):
                messages.append(f"expression error (failurePolicy Fail): {ok}")
            elif not isinstance(ok, celtypes.BoolType):
                messages.append(f"expression is not a bool: {ok!r}")
            elif not ok:
                messages.append(self._message(validation, run))
        return Decision(
            matched=True,
            allowed=not messages,
            messages=tuple(messages),
            evaluated=tuple(variables.order),
        )

    @staticmethod
    def _message(validation: Mapping[str, Any], run: Callable[[str], Any]) -> str:
        """messageExpression if it evaluates to a non-empty string, else message."""
        if "messageExpression" in validation:
            try:
                text = run(validation["messageExpression"])
            except CELEvalError:
                text = None
            if isinstance(text, str) and text.strip():
                return str(text)
        return str(validation.get("message", "denied"))
