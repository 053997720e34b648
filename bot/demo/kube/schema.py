"""Resource types, structural pruning and schema validation for the fake Kubernetes API server."""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

logger = logging.getLogger(__name__)

Json = dict[str, Any]
Cause = dict[str, str]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_TOO_LONG_63 = "must be no more than 63 characters"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
PRESERVE: Json = {"x-kubernetes-preserve-unknown-fields": True}

OBJECT_META_SCHEMA: Json = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "selfLink": {"type": "string"},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {},
        "deletionTimestamp": {},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": PRESERVE},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "managedFields": {"type": "array", "items": PRESERVE},
    },
}


@dataclass
class ResourceType:
    """One REST resource (group + plural) served in one or more versions."""

    group: str
    plural: str
    kind: str
    namespaced: bool
    versions: tuple[str, ...]
    schemas: dict[str, Json | None]
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    custom: bool = True
    name_rule: str = "subdomain"  # subdomain | label | path
    from_crd_file: bool = False
    extra_field_selectors: tuple[str, ...] = ()
    _validators: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def resource_id(self) -> str:
        """`clusters.cluster.x-k8s.io` or `namespaces` as used in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def field_selectors(self) -> frozenset[str]:
        base = {"metadata.name", "metadata.namespace"} if self.namespaced else {"metadata.name"}
        return frozenset(base | set(self.extra_field_selectors))

    def validator(self, version: str) -> Any:
        """A cached jsonschema validator for the version's schema without `metadata`."""
        if version not in self._validators:
            schema = copy.deepcopy(self.schemas.get(version) or {})
            schema.get("properties", {}).pop("metadata", None)
            self._validators[version] = Draft4Validator(schema)
        return self._validators[version]


@functools.lru_cache(maxsize=64)
def _parsed(path: Path) -> tuple[Any, ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader))


def _documents(path: Path) -> Any:
    """A YAML file's documents, parsed once per test session (libyaml when available: the
    CRDs are megabytes, and every fake API server reads them); each server gets its own copy,
    since some tests change a schema (an old CRD that prunes a field)."""
    return copy.deepcopy(_parsed(path))


def load_crd_types(crd_dir: Path) -> list[ResourceType]:
    """Read every CustomResourceDefinition under `crd_dir` (recursively)."""
    types = []
    for path in sorted(crd_dir.rglob("*.yaml")):
        for doc in _documents(path):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            names = spec["names"]
            served = [v for v in spec["versions"] if v.get("served", True)]
            types.append(
                ResourceType(
                    group=spec["group"],
                    plural=names["plural"],
                    kind=names["kind"],
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    versions=tuple(v["name"] for v in served),
                    schemas={
                        v["name"]: (v.get("schema") or {}).get("openAPIV3Schema") for v in served
                    },
                    singular=names.get("singular", names["kind"].lower()),
                    short_names=tuple(names.get("shortNames", ())),
                    categories=tuple(names.get("categories", ())),
                    status_subresource=any(
                        "status" in (v.get("subresources") or {}) for v in served
                    ),
                    from_crd_file=True,
                )
            )
    logger.debug("loaded %d CRDs from %s", len(types), crd_dir)
    return types


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def prune(value: Any, schema: Any, path: str, unknown: list[str]) -> None:
    """Drop fields the structural schema does not declare, recording their paths."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        declares_object = schema.get("type") == "object" or props is not None
        for key in list(value):
            if props is not None and key in props:
                prune(value[key], props[key], _join(path, key), unknown)
            elif isinstance(additional, dict):
                prune(value[key], additional, _join(path, key), unknown)
            elif additional is True or preserve or not declares_object:
                continue
            else:
                unknown.append(_join(path, key))
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            prune(item, schema["items"], f"{path}[{index}]", unknown)


def prune_object(obj: Json, schema: Json | None) -> list[str]:
    """Prune a whole object: metadata against ObjectMeta, the rest against the schema."""
    unknown: list[str] = []
    if isinstance(obj.get("metadata"), dict):
        prune(obj["metadata"], OBJECT_META_SCHEMA, "metadata", unknown)
    if schema is None:
        return unknown
    body_schema = copy.copy(schema)
    body_schema["properties"] = {
        k: v for k, v in schema.get("properties", {}).items() if k != "metadata"
    } | {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {}}
    prune(obj, body_schema, "", unknown)
    return unknown


def _error_path(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    return path


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(json.dumps(value))


def _cause(error: ValidationError) -> list[Cause]:
    path = _error_path(error)
    kind = error.validator
    if kind == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        return [
            {
                "reason": "FieldValueRequired",
                "message": "Required value",
                "field": _join(path, name),
            }
            for name in error.validator_value
            if name not in instance
        ]
    body_path = path or "body"
    if kind == "type":
        actual = type(error.instance).__name__
        actual = {
            "dict": "object",
            "list": "array",
            "str": "string",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
            "NoneType": "null",
        }.get(actual, actual)
        expected = error.validator_value
        message = (
            f'Invalid value: "{actual}": {body_path} in body must be of type {expected}: "{actual}"'
        )
        return [{"reason": "FieldValueTypeInvalid", "message": message, "field": path}]
    if kind == "enum":
        supported = ", ".join(json.dumps(v) for v in error.validator_value)
        message = f"Unsupported value: {_shown(error.instance)}: supported values: {supported}"
        return [{"reason": "FieldValueNotSupported", "message": message, "field": path}]
    if kind in ("maxLength", "maxItems", "maxProperties"):
        unit = {"maxLength": "bytes", "maxItems": "items", "maxProperties": "properties"}[kind]
        message = f"Too long: may not be more than {error.validator_value} {unit}"
        return [{"reason": "FieldValueTooLong", "message": message, "field": path}]
    message = f"Invalid value: {_shown(error.instance)}: {body_path} in body {error.message}"
    return [{"reason": "FieldValueInvalid", "message": message, "field": path}]


def validate_against_schema(rt: ResourceType, version: str, obj: Json) -> list[Cause]:
    """Validate (an already pruned) object against the version's schema; `metadata` excluded."""
    if rt.schemas.get(version) is None:
        return []
    causes: list[Cause] = []
    errors = sorted(
        rt.validator(version).iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))
    )
    for error in errors:
        for cause in _cause(error):
            if cause not in causes:
                causes.append(cause)
    return causes


def _name_causes(rt: ResourceType, name: str, field_path: str) -> list[Cause]:
    def invalid(message: str) -> Cause:
        return {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: {json.dumps(name)}: {message}",
            "field": field_path,
        }

    if rt.name_rule == "label":
        if len(name) > 63:
            return [invalid("must be no more than 63 characters")]
        if not DNS1123_LABEL.match(name):
            return [invalid(_LABEL_MSG)]
    elif rt.name_rule == "path":
        if name in (".", "..") or "/" in name or "%" in name:
            return [invalid("may not contain '/' or '%' and may not be '.' or '..'")]
    else:
        if len(name) > 253:
            return [invalid("must be no more than 253 characters")]
        if not DNS1123_SUBDOMAIN.match(name):
            return [invalid(_SUBDOMAIN_MSG)]
    return []


def _label_key_causes(key: str, field_path: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    problems = []
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        problems.append("prefix part " + _SUBDOMAIN_MSG)
    if len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    elif not _QUALIFIED_NAME.match(name):
        problems.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character"
        )
    return [
        {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: {json.dumps(key)}: {p}",
            "field": field_path,
        }
        for p in problems
    ]


def validate_metadata(rt: ResourceType, obj: Json) -> list[Cause]:
    """ObjectMeta checks: name (per kind), labels, annotation keys."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return [
            {
                "reason": "FieldValueRequired",
                "message": "Required value: name or generateName is required",
                "field": "metadata.name",
            }
        ]
    causes: list[Cause] = []
    causes += validate_metadata_types(meta)
    if causes:
        return causes
    name = meta.get("name")
    if not name:
        if not meta.get("generateName"):
            return [
                {
                    "reason": "FieldValueRequired",
                    "message": "Required value: name or generateName is required",
                    "field": "metadata.name",
                }
            ]
    else:
        causes += _name_causes(rt, name, "metadata.name")
    for key, value in (meta.get("labels") or {}).items():
        causes += _label_key_causes(key, "metadata.labels")
        if len(value) > 63:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {json.dumps(value)}: {_TOO_LONG_63}",
                    "field": "metadata.labels",
                }
            )
        elif not _LABEL_VALUE.match(value):
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {json.dumps(value)}: {_LABEL_VALUE_MSG}",
                    "field": "metadata.labels",
                }
            )
    for key in meta.get("annotations") or {}:
        causes += _label_key_causes(key, "metadata.annotations")
    return causes


_META_VALIDATOR = Draft4Validator(OBJECT_META_SCHEMA)


def validate_metadata_types(meta: Json) -> list[Cause]:
    """Type errors in ObjectMeta (e.g. a non-string label value)."""
    causes: list[Cause] = []
    for error in _META_VALIDATOR.iter_errors(meta):
        for cause in _cause(error):
            cause["field"] = _join("metadata", cause["field"])
            causes.append(cause)
    return causes


def allow_unknown_at(rt: ResourceType, path: str) -> None:
    """Mark dotted `path` as x-kubernetes-preserve-unknown-fields in all versions."""
    for version, schema in rt.schemas.items():
        if schema is None:
            continue
        node = schema
        for part in path.split("."):
            props = node.setdefault("properties", {})
            node = props.setdefault(part, {"type": "object"})
        node["x-kubernetes-preserve-unknown-fields"] = True
        rt._validators.pop(version, None)
