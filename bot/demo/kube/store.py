"""In-memory object store with real Kubernetes REST semantics for the fake API server."""

from __future__ import annotations

import base64
import copy
import json
import logging
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.demo.kube.builtins import builtin_semantics
from bot.demo.kube.capi import capi_causes
from bot.demo.kube.patch import PatchError, json_patch, merge_patch
from bot.demo.kube.schema import (
    Cause,
    Json,
    ResourceType,
    prune_object,
    validate_against_schema,
    validate_metadata,
)
from bot.demo.kube.selectors import (
    FieldRequirement,
    Requirement,
    match_field_selector,
    match_label_selector,
)

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace or "", name)
TypeKey = tuple[str, str]  # (group, plural)
_NS_MISMATCH = (
    "the namespace of the provided object does not match the namespace sent on the request"
)
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_MAX_EVENTS = 10_000


def now_rfc3339() -> str:
    """The current UTC time in the apiserver's timestamp format."""
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An error a real API server would answer with a `Status` object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: Json | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> Json:
        status: Json = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            status["details"] = self.details
        return status


def _details(rt: ResourceType, name: str, **extra: Any) -> Json:
    details: Json = {"name": name, "kind": rt.plural, **extra}
    if rt.group:
        details["group"] = rt.group
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{rt.resource_id} "{name}" not found', details=_details(rt, name)
    )


def invalid(rt: ResourceType, name: str, causes: list[Cause]) -> ApiError:
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details: Json = {"name": name, "kind": rt.kind, "causes": causes}
    if rt.group:
        details["group"] = rt.group
    return ApiError(
        422, "Invalid", f'{rt.qualified_kind} "{name}" is invalid: {summary}', details=details
    )


def conflict(rt: ResourceType, name: str, why: str) -> ApiError:
    message = f'Operation cannot be fulfilled on {rt.resource_id} "{name}": {why}'
    return ApiError(409, "Conflict", message, details=_details(rt, name))


@dataclass
class Event:
    """A watch event recorded at a resource version."""

    rv: int
    type: str
    type_key: TypeKey
    obj: Json


@dataclass
class WriteResult:
    """The object to return, the HTTP code, and `Warning` header texts."""

    body: Json
    code: int
    warnings: list[str]


class Store:
    """Objects by resource type; all methods are thread-safe."""

    def __init__(self, types: list[ResourceType], *, lenient_strategic_merge: bool = False) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.types: dict[TypeKey, ResourceType] = {(rt.group, rt.plural): rt for rt in types}
        self.data: dict[TypeKey, dict[Key, Json]] = {key: {} for key in self.types}
        self.rv = 0
        self.events: list[Event] = []
        self.lenient_strategic_merge = lenient_strategic_merge
        # Off only for benches that model the server's cost as a fixed service time: objects
        # are then checked for metadata, built-in semantics and CAPI rules, not the schema.
        self.schema_validation = True

    # ---- lookup -------------------------------------------------------------------------
    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.types.get((group, plural))
        if rt is None or version not in rt.versions:
            raise ApiError(
                404, "NotFound", "the server could not find the requested resource", details={}
            )
        return rt

    def namespace_rt(self) -> ResourceType:
        return self.types[("", "namespaces")]

    def _bump(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _record(self, kind: str, rt: ResourceType, obj: Json) -> None:
        self.events.append(
            Event(
                int(obj["metadata"]["resourceVersion"]),
                kind,
                (rt.group, rt.plural),
                copy.deepcopy(obj),
            )
        )
        if len(self.events) > _MAX_EVENTS:
            del self.events[: len(self.events) - _MAX_EVENTS]
        self.changed.notify_all()

    @staticmethod
    def out(rt: ResourceType, version: str, obj: Json) -> Json:
        """Copy of a stored object as served in `version` (apiVersion rewritten, no conversion)."""
        result = copy.deepcopy(obj)
        result["apiVersion"] = rt.api_version(version)
        result["kind"] = rt.kind
        return result

    def _check_namespace(self, rt: ResourceType, namespace: str | None) -> None:
        if not rt.namespaced:
            return
        ns = self.data[("", "namespaces")].get(("", namespace or ""))
        if ns is None:
            raise not_found(self.namespace_rt(), namespace or "")
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"{rt.resource_id} is forbidden: unable to create new content in namespace "
                f"{namespace} because it is being terminated",
                details=_details(
                    rt,
                    "",
                    causes=[
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                ),
            )

    # ---- validation ---------------------------------------------------------------------
    def _admit(
        self, rt: ResourceType, version: str, obj: Json, name: str, field_validation: str
    ) -> list[str]:
        """Prune, validate and normalise `obj` in place; return warnings or raise 400/422."""
        unknown = prune_object(obj, rt.schemas.get(version))
        if unknown and field_validation == "Strict":
            text = ", ".join(f'unknown field "{p}"' for p in unknown)
            raise ApiError(400, "BadRequest", f"strict decoding error: {text}")
        causes = validate_metadata(rt, obj)
        if self.schema_validation:
            causes += validate_against_schema(rt, version, obj)
        causes += builtin_semantics(rt, obj)
        causes += capi_causes(self.data, rt, obj)
        if causes:
            raise invalid(rt, name, causes)
        if rt.kind == "Secret":
            string_data = obj.pop("stringData", None) or {}
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(value.encode()).decode()
            obj.setdefault("type", "Opaque")
        return [] if field_validation == "Ignore" else [f'unknown field "{p}"' for p in unknown]

    # ---- verbs ----------------------------------------------------------------------------
    def create(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        body: Any,
        *,
        field_validation: str = "Warn",
        dry_run: bool = False,
    ) -> WriteResult:
        obj = self._check_body(rt, version, body)
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise ApiError(
                    400,
                    "BadRequest",
                    _NS_MISMATCH,
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise ApiError(
                400, "BadRequest", "resourceVersion should not be set on objects to be created"
            )
        with self.lock:
            self._check_namespace(rt, namespace)
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(
                    secrets.choice(_NAME_CHARS) for _ in range(5)
                )
            name = meta.get("name") or ""
            warnings = self._admit(rt, version, obj, name, field_validation)
            key = (namespace or "", name) if rt.namespaced else ("", name)
            if key in self.data[(rt.group, rt.plural)]:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{rt.resource_id} "{name}" already exists',
                    details=_details(rt, name),
                )
            if rt.status_subresource:
                obj.pop("status", None)
            for system in (
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "uid",
                "creationTimestamp",
                "selfLink",
                "managedFields",
            ):
                meta.pop(system, None)
            self._init_system_fields(rt, obj)
            if dry_run:
                return WriteResult(self.out(rt, version, obj), 201, warnings)
            self._insert(rt, key, obj)
            return WriteResult(self.out(rt, version, obj), 201, warnings)

    def _check_body(self, rt: ResourceType, version: str, body: Any) -> Json:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        obj = copy.deepcopy(body)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if rt.custom and (not api_version or not kind):
            raise ApiError(
                400, "BadRequest", f"Object 'Kind' is missing in '{json.dumps(body)[:200]}'"
            )
        if api_version not in (None, rt.api_version(version)) or kind not in (None, rt.kind):
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({rt.api_version(version)})"
                if api_version not in (None, rt.api_version(version))
                else f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})",
            )
        obj["apiVersion"], obj["kind"] = rt.api_version(version), rt.kind
        return obj

    def _init_system_fields(self, rt: ResourceType, obj: Json) -> None:
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        if rt.custom:
            meta.setdefault("generation", 1)
        if rt.kind == "Namespace":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}

    def _insert(self, rt: ResourceType, key: Key, obj: Json) -> None:
        obj["metadata"]["resourceVersion"] = self._bump()
        self.data[(rt.group, rt.plural)][key] = obj
        self._record("ADDED", rt, obj)
        if rt.kind == "Namespace" and not rt.custom:
            sa_rt = self.types[("", "serviceaccounts")]
            sa: Json = {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": key[1]},
            }
            self._init_system_fields(sa_rt, sa)
            self._insert(sa_rt, (key[1], "default"), sa)

    def key(self, rt: ResourceType, namespace: str | None, name: str) -> Key:
        return ((namespace or "") if rt.namespaced else "", name)

    def get(self, rt: ResourceType, version: str, namespace: str | None, name: str) -> Json:
        with self.lock:
            obj = self.data[(rt.group, rt.plural)].get(self.key(rt, namespace, name))
            if obj is None:
                raise not_found(rt, name)
            return self.out(rt, version, obj)

    def list(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        labels: list[Requirement],
        fields: list[FieldRequirement],
    ) -> tuple[list[Json], str]:
        with self.lock:
            items = [
                self.out(rt, version, obj)
                for key, obj in sorted(self.data[(rt.group, rt.plural)].items())
                if (namespace is None or key[0] == namespace)
                and match_label_selector(labels, obj["metadata"].get("labels"))
                and match_field_selector(fields, obj)
            ]
            return items, str(self.rv)

    def update(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        field_validation: str = "Warn",
        dry_run: bool = False,
        require_rv: bool = True,
    ) -> WriteResult:
        new = self._check_body(rt, version, body)
        meta = new.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on the "
                f"URL ({name})",
            )
        if rt.namespaced and meta.get("namespace", namespace) != namespace:
            raise ApiError(
                400,
                "BadRequest",
                _NS_MISMATCH,
            )
        with self.lock:
            key = self.key(rt, namespace, name)
            old = self.data[(rt.group, rt.plural)].get(key)
            if old is None:
                raise not_found(rt, name)
            requested_rv = meta.get("resourceVersion")
            if requested_rv and requested_rv != old["metadata"]["resourceVersion"]:
                raise conflict(
                    rt,
                    name,
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again",
                )
            if not requested_rv and require_rv and rt.custom:
                cause = {
                    "reason": "FieldValueInvalid",
                    "message": "Invalid value: 0x0: must be specified for an update",
                    "field": "metadata.resourceVersion",
                }
                raise invalid(rt, name, [cause])
            merged = self._merge_update(rt, old, new, subresource)
            warnings = self._admit(rt, version, merged, name, field_validation)
            self._check_transition(rt, old, merged, name)
            if _content(merged) == _content(old):
                return WriteResult(self.out(rt, version, old), 200, warnings)
            if rt.custom and _spec_part(rt, merged) != _spec_part(rt, old):
                merged["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            if dry_run:
                return WriteResult(self.out(rt, version, merged), 200, warnings)
            merged["metadata"]["resourceVersion"] = self._bump()
            self.data[(rt.group, rt.plural)][key] = merged
            self._record("MODIFIED", rt, merged)
            if merged["metadata"].get("deletionTimestamp") and not merged["metadata"].get(
                "finalizers"
            ):
                self._remove(rt, key, "Background")
            return WriteResult(self.out(rt, version, merged), 200, warnings)

    @staticmethod
    def _merge_update(rt: ResourceType, old: Json, new: Json, subresource: str | None) -> Json:
        if subresource == "status":
            merged = copy.deepcopy(old)
            merged["apiVersion"] = new["apiVersion"]
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            return merged
        merged = copy.deepcopy(new)
        if rt.status_subresource or rt.kind == "Namespace":
            if "status" in old:
                merged["status"] = copy.deepcopy(old["status"])
            else:
                merged.pop("status", None)
        meta, old_meta = merged["metadata"], old["metadata"]
        for system in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "resourceVersion",
        ):
            if system in old_meta:
                meta[system] = old_meta[system]
            else:
                meta.pop(system, None)
        meta["name"] = old_meta["name"]
        return merged

    def _check_transition(self, rt: ResourceType, old: Json, new: Json, name: str) -> None:
        causes: list[Cause] = []
        old_finalizers = set(old["metadata"].get("finalizers") or [])
        if (
            old["metadata"].get("deletionTimestamp")
            and set(new["metadata"].get("finalizers") or []) - old_finalizers
        ):
            causes.append(
                {
                    "reason": "FieldValueForbidden",
                    "message": "Forbidden: no new finalizers can be added if the object is "
                    "being deleted",
                    "field": "metadata.finalizers",
                }
            )
        if rt.kind in ("RoleBinding", "ClusterRoleBinding") and new.get("roleRef") != old.get(
            "roleRef"
        ):
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {json.dumps(new.get('roleRef'))}: "
                    "cannot change roleRef",
                    "field": "roleRef",
                }
            )
        if causes:
            raise invalid(rt, name, causes)

    def patch(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        *,
        subresource: str | None = None,
        field_validation: str = "Warn",
        dry_run: bool = False,
    ) -> WriteResult:
        with self.lock:
            current = self.get(rt, version, namespace, name)
            if content_type != "application/json-patch+json" and not isinstance(patch, dict):
                raise ApiError(
                    400,
                    "BadRequest",
                    f"error decoding patch: cannot unmarshal {type(patch).__name__} into an "
                    f"object ({content_type})",
                )
            try:
                if content_type == "application/json-patch+json":
                    patched = json_patch(current, patch)
                elif content_type == "application/merge-patch+json":
                    patched = merge_patch(current, patch)
                elif content_type == "application/strategic-merge-patch+json" and (
                    not rt.custom or self.lenient_strategic_merge
                ):
                    patched = merge_patch(current, patch, strategic=True)
                else:
                    raise ApiError(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media "
                        "types include: application/json-patch+json, "
                        "application/merge-patch+json"
                        + ("" if rt.custom else ", application/strategic-merge-patch+json"),
                    )
            except PatchError as exc:
                reason = "Invalid" if exc.code == 422 else "BadRequest"
                raise ApiError(exc.code, reason, str(exc)) from exc
            if not isinstance(patched, dict) or patched.get("metadata", {}).get("name") != name:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the patched object's name does not match the name on the URL",
                )
            return self.update(
                rt,
                version,
                namespace,
                name,
                patched,
                subresource=subresource,
                field_validation=field_validation,
                dry_run=dry_run,
                require_rv=False,
            )

    def delete(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        name: str,
        options: Json,
        *,
        dry_run: bool = False,
    ) -> WriteResult:
        with self.lock:
            key = self.key(rt, namespace, name)
            obj = self.data[(rt.group, rt.plural)].get(key)
            if obj is None:
                raise not_found(rt, name)
            preconditions = options.get("preconditions") or {}
            for field in ("uid", "resourceVersion"):
                want = preconditions.get(field)
                label = "UID" if field == "uid" else "ResourceVersion"
                if want and want != obj["metadata"].get(field):
                    raise conflict(
                        rt,
                        name,
                        f"Precondition failed: {label} in precondition: {want}, {label} in "
                        f"object meta: {obj['metadata'].get(field)}",
                    )
            if dry_run:
                return WriteResult(self.out(rt, version, obj), 200, [])
            policy = options.get("propagationPolicy") or (
                "Orphan" if options.get("orphanDependents") else "Background"
            )
            final = self.delete_internal(rt, key, policy)
            if (
                rt.custom
                or rt.kind == "Namespace"
                or final.get("metadata", {}).get("deletionTimestamp")
            ):
                return WriteResult(self.out(rt, version, final), 200, [])
            status: Json = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": _details(rt, name, uid=obj["metadata"].get("uid")),
            }
            return WriteResult(status, 200, [])

    def delete_internal(self, rt: ResourceType, key: Key, policy: str) -> Json:
        """Delete honouring finalizers; returns the object as it was last seen."""
        obj = self.data[(rt.group, rt.plural)][key]
        meta = obj["metadata"]
        if rt.kind == "Namespace" and not rt.custom:
            return self._delete_namespace(rt, key, policy)
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_rfc3339()
                meta["deletionGracePeriodSeconds"] = 0
                if rt.custom:
                    meta["generation"] = meta.get("generation", 1) + 1
                meta["resourceVersion"] = self._bump()
                self._record("MODIFIED", rt, obj)
            return copy.deepcopy(obj)
        return self._remove(rt, key, policy)

    def _delete_namespace(self, rt: ResourceType, key: Key, policy: str) -> Json:
        ns = self.data[(rt.group, rt.plural)][key]
        name = key[1]
        if not ns["metadata"].get("deletionTimestamp"):
            ns["metadata"]["deletionTimestamp"] = now_rfc3339()
            ns["metadata"]["deletionGracePeriodSeconds"] = 0
            ns["status"] = {"phase": "Terminating"}
            ns["metadata"]["resourceVersion"] = self._bump()
            self._record("MODIFIED", rt, ns)
        snapshot = copy.deepcopy(ns)
        for other in self.types.values():
            if not other.namespaced:
                continue
            for obj_key in [k for k in self.data[(other.group, other.plural)] if k[0] == name]:
                if obj_key in self.data[(other.group, other.plural)]:
                    self.delete_internal(other, obj_key, policy)
        self.reap_namespaces()
        return snapshot

    def _remove(self, rt: ResourceType, key: Key, policy: str) -> Json:
        obj = self.data[(rt.group, rt.plural)].pop(key)
        obj["metadata"]["resourceVersion"] = self._bump()
        self._record("DELETED", rt, obj)
        self._collect_dependents(obj["metadata"].get("uid"), policy)
        self.reap_namespaces()
        return obj

    def _collect_dependents(self, uid: str | None, policy: str) -> None:
        """Synchronous ownerReferences garbage collection (Foreground is treated as Background)."""
        if not uid:
            return
        for other in self.types.values():
            store = self.data[(other.group, other.plural)]
            for key in list(store):
                obj = store.get(key)
                refs = (obj or {}).get("metadata", {}).get("ownerReferences") or []
                if obj is None or not any(ref.get("uid") == uid for ref in refs):
                    continue
                if policy == "Orphan":
                    obj["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    obj["metadata"]["resourceVersion"] = self._bump()
                    self._record("MODIFIED", other, obj)
                else:
                    self.delete_internal(other, key, policy)

    def reap_namespaces(self) -> None:
        """The namespace controller: remove Terminating namespaces once they are empty."""
        ns_rt = self.namespace_rt()
        namespaces = self.data[("", "namespaces")]
        for key, ns in list(namespaces.items()):
            if not ns["metadata"].get("deletionTimestamp") or key not in namespaces:
                continue
            if any(
                k[0] == key[1]
                for t, objs in self.data.items()
                if self.types[t].namespaced
                for k in objs
            ):
                continue
            self._remove(ns_rt, key, "Background")

    # ---- test hooks -----------------------------------------------------------------------
    def put_raw(self, rt: ResourceType, obj: Json) -> Json:
        """Insert or overwrite without validation (system fields are filled in)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        obj.setdefault("apiVersion", rt.api_version(rt.versions[-1]))
        obj.setdefault("kind", rt.kind)
        with self.lock:
            key = self.key(rt, meta.get("namespace"), meta["name"])
            old = self.data[(rt.group, rt.plural)].get(key)
            self._init_system_fields(rt, obj)
            if old is None:
                self._insert(rt, key, obj)
            else:
                meta["uid"] = old["metadata"]["uid"]
                meta["resourceVersion"] = self._bump()
                self.data[(rt.group, rt.plural)][key] = obj
                self._record("MODIFIED", rt, obj)
            return copy.deepcopy(obj)

    def mutate(self, rt: ResourceType, namespace: str | None, name: str, change: Any) -> Json:
        """Apply `change(obj)` to a stored object in place, bumping its resourceVersion."""
        with self.lock:
            key = self.key(rt, namespace, name)
            obj = self.data[(rt.group, rt.plural)].get(key)
            if obj is None:
                raise not_found(rt, name)
            change(obj)
            obj["metadata"]["resourceVersion"] = self._bump()
            self._record("MODIFIED", rt, obj)
            return copy.deepcopy(obj)

    def events_since(self, rv: int) -> Iterator[Event]:
        """Recorded events newer than `rv` (call with the lock held)."""
        if self.events and rv < self.events[0].rv - 1:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({self.events[0].rv})")
        return (e for e in self.events if e.rv > rv)


def _content(obj: Json) -> Json:
    stripped = copy.deepcopy(obj)
    stripped.pop("apiVersion", None)
    stripped["metadata"].pop("resourceVersion", None)
    return stripped


def _spec_part(rt: ResourceType, obj: Json) -> Json:
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if rt.status_subresource else set())
    return {k: v for k, v in obj.items() if k not in skip}
