"""The admission checks of Cluster API's and CAPA's webhooks that the fake API server makes, so it
refuses what a real management cluster refuses.

- Cluster (topology): every variable must be declared by the ClusterClass, when that class exists
  in the fake (CAPI `internal/topology/variables`: "variable is not defined", "required variable
  %q must be set"), and its value must fit the declared schema. The declarations come from the
  class's `status.variables` when set (as CAPI's webhook reads them), else from `spec.variables`
  (as if the ClusterClass controller had copied them). A missing class is accepted, as CAPI
  accepts it with a warning.
- AWSCluster: `spec.additionalTags` follows CAPA's `Tags.Validate` (characters, lengths, the
  reserved `aws:` prefix, at most 50).

Independent of envbot's own checks on purpose (jsonschema here, a hand-written subset there).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from jsonschema import Draft4Validator

from bot.demo.kube.schema import Cause, Json, ResourceType, prune

_CHARS = "alphabets, numbers, spaces and _ . : / = + - @ ."
_TAG = re.compile(r"^[a-zA-Z0-9\s_.:=+\-@/]*$")
_OPENAPI_ONLY = ("default", "nullable", "example", "format", "x-kubernetes-preserve-unknown-fields")


def capi_causes(
    data: dict[tuple[str, str], dict[tuple[str, str], Json]], rt: ResourceType, obj: Json
) -> list[Cause]:
    """The webhook refusals for `obj`; `data` is the store's objects by (group, plural)."""
    if rt.group == "cluster.x-k8s.io" and rt.kind == "Cluster":
        return _topology_causes(data, obj)
    if rt.group == "infrastructure.cluster.x-k8s.io" and rt.kind == "AWSCluster":
        return _tag_causes((obj.get("spec") or {}).get("additionalTags") or {})
    return []


def _definitions(clusterclass: Json) -> dict[str, Json]:
    found: dict[str, Json] = {}
    for entry in (clusterclass.get("status") or {}).get("variables") or []:
        first = (entry.get("definitions") or [{}])[0]
        found[entry["name"]] = {
            "required": first.get("required", False),
            "schema": first.get("schema"),
        }
    if found:
        return found
    for entry in (clusterclass.get("spec") or {}).get("variables") or []:
        found[entry["name"]] = {
            "required": entry.get("required", False),
            "schema": entry.get("schema"),
        }
    return found


def _topology_causes(
    data: dict[tuple[str, str], dict[tuple[str, str], Json]], obj: Json
) -> list[Cause]:
    topology = (obj.get("spec") or {}).get("topology")
    classes = data.get(("cluster.x-k8s.io", "clusterclasses"))
    if not isinstance(topology, dict) or classes is None:
        return []
    ref = topology.get("classRef") or {}
    name = ref.get("name") or topology.get("class")
    namespace = (
        ref.get("namespace") or topology.get("classNamespace") or obj["metadata"].get("namespace")
    )
    clusterclass = classes.get((namespace or "", name or ""))
    if clusterclass is None:
        return []
    definitions = _definitions(clusterclass)
    values = {v.get("name"): v.get("value") for v in topology.get("variables") or []}
    causes: list[Cause] = []
    for var, definition in sorted(definitions.items()):
        schema = ((definition.get("schema") or {}).get("openAPIV3Schema")) or {}
        if definition["required"] and var not in values and "default" not in schema:
            causes.append(
                {
                    "reason": "FieldValueRequired",
                    "message": f'Required value: required variable "{var}" must be set',
                    "field": "spec.topology.variables",
                }
            )
    for var, value in values.items():
        field = f"spec.topology.variables[{var}]"
        raw = json.dumps(json.dumps(value, separators=(",", ":")))
        if var not in definitions:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {raw}: variable is not defined",
                    "field": field,
                }
            )
            continue
        schema = ((definitions[var].get("schema") or {}).get("openAPIV3Schema")) or {}
        causes.extend(_value_causes(var, value, schema, field))
    return causes


def _plain(schema: Any) -> Any:
    """The OpenAPI schema as JSON Schema draft 4 (OpenAPI-only keys removed)."""
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if k not in _OPENAPI_ONLY}
    if isinstance(schema, list):
        return [_plain(v) for v in schema]
    return schema


def _value_causes(var: str, value: Any, schema: Json, field: str) -> list[Cause]:
    causes: list[Cause] = []
    for error in Draft4Validator(_plain(schema)).iter_errors(value):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {json.dumps(error.instance)}: {error.message}",
                "field": f"{field}.value{where}",
            }
        )
    unknown: list[str] = []
    prune(copy.deepcopy({var: value}), {"type": "object", "properties": {var: schema}}, "", unknown)
    if unknown:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": f'Invalid value: "": failed validation: "{",".join(unknown)}" fields '
                f'are not specified in the variable schema of variable "{var}"',
                "field": field,
            }
        )
    return causes


def _tag_causes(tags: dict[str, Any]) -> list[Cause]:
    problems: list[tuple[str, str]] = []
    for key, value in tags.items():
        text = str(value)
        if not key:
            problems.append((key, "key cannot be empty"))
        if len(key) > 128:
            problems.append((key, "key cannot be longer than 128 characters"))
        if len(text) > 256:
            problems.append((text, "value cannot be longer than 256 characters"))
        if key.startswith("aws:"):
            problems.append((key, "user created tag's key cannot have prefix aws:"))
        if not _TAG.match(key):
            problems.append(
                (
                    key,
                    f"key cannot have characters other than {_CHARS}",
                )
            )
        if not _TAG.match(text):
            problems.append(
                (
                    text,
                    f"value cannot have characters other than {_CHARS}",
                )
            )
    if len(tags) > 50:
        problems.append(("", "user created tags cannot be more than 50"))
    return [
        {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: {json.dumps(bad)}: {why}",
            "field": "spec.additionalTags",
        }
        for bad, why in problems
    ]


def clusterclass(name: str, namespace: str, variables: list[Json]) -> Json:
    """A v1beta1 ClusterClass shaped like CAPA's quick-start class, declaring `variables`
    (entries `{name, required, schema: {openAPIV3Schema}}`), for tests to create."""
    infra = "infrastructure.cluster.x-k8s.io/v1beta2"
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "ClusterClass",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "controlPlane": {
                "ref": {
                    "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
                    "kind": "KubeadmControlPlaneTemplate",
                    "name": f"{name}-control-plane",
                },
                "machineInfrastructure": {
                    "ref": {"apiVersion": infra, "kind": "AWSMachineTemplate", "name": f"{name}-cp"}
                },
            },
            "infrastructure": {
                "ref": {"apiVersion": infra, "kind": "AWSClusterTemplate", "name": name}
            },
            "variables": variables,
        },
    }


def quick_start_variables(*extra: Json) -> list[Json]:
    """The variables of CAPA's quick-start ClusterClass (templates/cluster-template-simple-
    clusterclass.yaml at v2.x), plus `extra`."""

    def string(var: str, default: str) -> Json:
        return {
            "name": var,
            "required": True,
            "schema": {"openAPIV3Schema": {"type": "string", "default": default}},
        }

    return [
        string("region", "us-east-1"),
        string("sshKeyName", "default"),
        string("controlPlaneMachineType", "t3.large"),
        string("workerMachineType", "t3.large"),
        *extra,
    ]


TAGS_VARIABLE: Json = {
    "name": "additionalTags",
    "required": False,
    "schema": {"openAPIV3Schema": {"type": "object", "additionalProperties": {"type": "string"}}},
}
