"""Checks a topology template's variables against its ClusterClass before create and in
`envbot doctor`, so a mismatch is a message naming the template and the variable instead of
CAPI's webhook refusing the Cluster ("variable is not defined") or a Cluster that never becomes
ready.

The declared variables come from `status.variables` when the ClusterClass controller has filled
it (it adds variables that runtime extensions declare; CAPI's webhook reads it too), else from
`spec.variables`. Values are checked against a sensible subset of `openAPIV3Schema`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.kube.client import KubeClient
from provisioning.kube.resources import Resource

CAPI_GROUP = "cluster.x-k8s.io"
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def clusterclass_resource(api_version: str) -> Resource:
    """The `clusterclasses` resource in the given Cluster API version."""
    return Resource(CAPI_GROUP, api_version, "clusterclasses", "ClusterClass", namespaced=True)


@dataclass(frozen=True)
class Declared:
    """One variable a ClusterClass declares."""

    required: bool
    schema: Mapping[str, Any]


def declared_variables(clusterclass: Mapping[str, Any]) -> dict[str, Declared]:
    """Variable name -> declaration, from status.variables or else spec.variables."""
    found: dict[str, Declared] = {}
    for entry in (clusterclass.get("status") or {}).get("variables") or []:
        definitions = entry.get("definitions") or [{}]
        first = definitions[0]
        schema = (first.get("schema") or {}).get("openAPIV3Schema") or {}
        found[str(entry.get("name"))] = Declared(bool(first.get("required")), schema)
    if found:
        return found
    for entry in (clusterclass.get("spec") or {}).get("variables") or []:
        schema = (entry.get("schema") or {}).get("openAPIV3Schema") or {}
        found[str(entry.get("name"))] = Declared(bool(entry.get("required")), schema)
    return found


def variable_problems(
    template: str, class_name: str, clusterclass: Mapping[str, Any], values: Mapping[str, object]
) -> list[str]:
    """Every way `values` break the ClusterClass's declared variables, one message each."""
    declared = declared_variables(clusterclass)
    names = ", ".join(sorted(declared)) or "none"
    problems: list[str] = []
    for name in values:
        if name not in declared:
            problems.append(
                f"template {template}: variable {name} is not declared by ClusterClass "
                f"{class_name} (declared: {names})"
            )
    for name, decl in sorted(declared.items()):
        if decl.required and name not in values and "default" not in decl.schema:
            problems.append(
                f"template {template}: variable {name} is required by ClusterClass "
                f"{class_name}; add it to the template's topology.variables"
            )
        elif name in values:
            problems.extend(
                f"template {template}: variable {text}"
                for text in schema_problems(values[name], decl.schema, name)
            )
    return problems


def schema_problems(value: object, schema: Mapping[str, Any], path: str) -> list[str]:
    """Where `value` breaks `schema` (type, enum, bounds, lengths, pattern, items, properties)."""
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: must not be null"]
    wanted = schema.get("type")
    if isinstance(wanted, str) and wanted in _TYPES:
        is_bool = isinstance(value, bool)
        if not isinstance(value, _TYPES[wanted]) or (is_bool and wanted != "boolean"):
            return [f"{path}: must be of type {wanted}, got {value!r}"]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        problems.append(f"{path}: {value!r} is not one of {allowed}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        problems.extend(_bounds(value, schema, path))
    if isinstance(value, str):
        problems.extend(_string(value, schema, path))
    if isinstance(value, list):
        problems.extend(_array(value, schema, path))
    if isinstance(value, dict):
        problems.extend(_object(value, schema, path))
    return problems


def _bounds(value: float, schema: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and (value < low or (schema.get("exclusiveMinimum") and value == low)):
        problems.append(f"{path}: {value} is below the minimum {low}")
    if high is not None and (value > high or (schema.get("exclusiveMaximum") and value == high)):
        problems.append(f"{path}: {value} is above the maximum {high}")
    return problems


def _string(value: str, schema: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    if "minLength" in schema and len(value) < schema["minLength"]:
        problems.append(f"{path}: {value!r} is shorter than {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        problems.append(f"{path}: {value!r} is longer than {schema['maxLength']} characters")
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and re.search(pattern, value) is None:
        problems.append(f"{path}: {value!r} does not match {pattern}")
    return problems


def _array(value: list[Any], schema: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        problems.append(f"{path}: has fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        problems.append(f"{path}: has more than {schema['maxItems']} items")
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            problems.extend(schema_problems(item, items, f"{path}[{index}]"))
    return problems


def _object(value: dict[str, Any], schema: Mapping[str, Any], path: str) -> list[str]:
    problems = [
        f"{path}.{key}: required field is missing"
        for key in schema.get("required") or []
        if key not in value
    ]
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    declares = schema.get("type") == "object" or bool(props)
    for key, item in value.items():
        if key in props:
            problems.extend(schema_problems(item, props[key], f"{path}.{key}"))
        elif isinstance(extra, Mapping):
            problems.extend(schema_problems(item, extra, f"{path}.{key}"))
        elif declares and extra is not True and not preserve:
            # CAPI prunes it, and its webhook refuses a value that pruning would change
            problems.append(f"{path}.{key}: is not a field of the variable's schema")
    return problems


def topology_problems(
    kube: KubeClient,
    api_version: str,
    namespace: str,
    template: str,
    class_name: str,
    values: Mapping[str, object],
) -> list[str]:
    """Read the ClusterClass from the API server and check `values` against it.

    Raises:
        TemporaryError: the API server is unavailable.
        PermanentError: the read was refused (for example RBAC).
    """
    clusterclass = kube.get(clusterclass_resource(api_version), class_name, namespace)
    if clusterclass is None:
        return [
            f"template {template}: ClusterClass {class_name} does not exist in namespace "
            f"{namespace}; create it or fix topology.class"
        ]
    return variable_problems(template, class_name, clusterclass, values)
