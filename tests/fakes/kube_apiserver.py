"""A fake Kubernetes API server on loopback for the real `kubernetes` client and kubectl."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.fakes.kube_schema import (
    Json,
    ResourceType,
    allow_unknown_at,
    builtin_types,
    fallback_crd_types,
    load_crd_types,
)
from tests.fakes.kube_selectors import (
    SelectorError,
    match_field_selector,
    match_label_selector,
    parse_field_selector,
    parse_label_selector,
)
from tests.fakes.kube_store import ApiError, Store, now_rfc3339
from tests.fakes.kube_store import WriteResult as WriteResult

logger = logging.getLogger(__name__)

DEFAULT_CRD_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "crds"
_AUTO = "auto"
_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class RecordedRequest:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


RequestPredicate = Callable[[RecordedRequest], bool]


@dataclass
class InjectedError:
    """A canned failure for matching requests."""

    method: str
    match: str | RequestPredicate
    status: int
    reason: str
    message: str
    remaining: int | None
    retry_after: int | None

    def applies(self, request: RecordedRequest) -> bool:
        if self.remaining == 0 or self.method not in ("*", request.method):
            return False
        if isinstance(self.match, str):
            return self.match in request.path
        return self.match(request)


@dataclass
class _Route:
    rt: ResourceType
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None


def _version_priority(version: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (0, 0, 0)
    stability = {"alpha": 1, "beta": 2, None: 3}[match.group(2)]
    return (stability, int(match.group(1)), int(match.group(3) or 0))


def _age(timestamp: str) -> str:
    try:
        created = time.mktime(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except ValueError:
        return "<unknown>"
    seconds = max(0, int(time.time() - created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass
class _State:
    requests: list[RecordedRequest] = field(default_factory=list)
    errors: list[InjectedError] = field(default_factory=list)


class FakeKubeApiServer:
    """Serve an in-memory cluster on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        crd_dir: Path | str | None = _AUTO,
        token: str = "fake-token",  # noqa: S107 - a fixed test token
        lenient_strategic_merge: bool = False,
        tls: bool = False,
    ) -> None:
        types = builtin_types()
        custom = {(rt.group, rt.plural): rt for rt in fallback_crd_types()}
        directory = (
            (DEFAULT_CRD_DIR if DEFAULT_CRD_DIR.is_dir() else None) if crd_dir == _AUTO else crd_dir
        )
        if directory is not None:
            custom.update({(rt.group, rt.plural): rt for rt in load_crd_types(Path(directory))})
        self.crd_dir: Path | None = Path(directory) if directory is not None else None
        self.token = token
        self.store = Store(
            types + list(custom.values()), lenient_strategic_merge=lenient_strategic_merge
        )
        self._state = _State()
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.tls = tls
        self.ca_pem: bytes | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-kube-")
        self._seed()

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeKubeApiServer:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        if self.tls:
            self.ca_pem = self._wrap_tls(self._httpd)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fake-kube-apiserver", daemon=True
        )
        self._thread.start()
        logger.debug("fake kube-apiserver listening on %s", self.url)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self.store.changed:
            self.store.changed.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self._tmp.cleanup()

    def _wrap_tls(self, httpd: ThreadingHTTPServer) -> bytes:
        from tests.fakes.kube_tls import self_signed_certificate

        cert_pem, key_pem = self_signed_certificate()
        cert_file, key_file = Path(self._tmp.name) / "tls.crt", Path(self._tmp.name) / "tls.key"
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        httpd.socket = context.wrap_socket(
            httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        return cert_pem

    def __enter__(self) -> FakeKubeApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("fake kube-apiserver is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    # ---- client configuration -------------------------------------------------------------
    def kubeconfig(self, context: str = "fake", namespace: str = "default") -> Json:
        """Kubeconfig as a dict (kubectl sends tokens only over TLS: use `tls=True` for it)."""
        cluster: Json = {"server": self.url}
        if self.ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": f"{context}-user", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": context,
                    "context": {
                        "cluster": context,
                        "user": f"{context}-user",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": context,
        }

    def write_kubeconfig(self, path: Path | str, context: str = "fake") -> Path:
        target = Path(path)
        target.write_text(yaml.safe_dump(self.kubeconfig(context)), encoding="utf-8")
        return target

    def api_client(self, context: str = "fake") -> Any:
        """A `kubernetes.client.ApiClient` loaded from a kubeconfig the fake writes."""
        from kubernetes import config

        with tempfile.TemporaryDirectory() as tmp:
            path = self.write_kubeconfig(Path(tmp) / "kubeconfig", context)
            client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(path), context=context
            )
            return client

    # ---- test hooks -----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state_lock:
            return list(self._state.requests)

    def clear_requests(self) -> None:
        with self._state_lock:
            self._state.requests.clear()

    def resource_type(self, group: str, version: str, plural: str) -> ResourceType:
        return self.store.resolve("" if group == "core" else group, version, plural)

    def objects(
        self, group: str, version: str, plural: str, namespace: str | None = None
    ) -> list[Json]:
        rt = self.resource_type(group, version, plural)
        return self.store.list(rt, version, namespace, [], [])[0]

    def get_object(
        self, group: str, version: str, plural: str, namespace: str | None, name: str
    ) -> Json | None:
        rt = self.resource_type(group, version, plural)
        try:
            return self.store.get(rt, version, namespace, name)
        except ApiError:
            return None

    def put_object(self, group: str, version: str, plural: str, obj: Json) -> Json:
        """Store `obj` as-is (no validation, namespace need not exist); fills system fields."""
        rt = self.resource_type(group, version, plural)
        body = copy.deepcopy(obj)
        body.setdefault("apiVersion", rt.api_version(version))
        return self.store.put_raw(rt, body)

    def set_status(
        self, group: str, version: str, plural: str, namespace: str | None, name: str, status: Json
    ) -> Json:
        """Replace `.status` as a controller would (bumps resourceVersion, no generation change)."""
        rt = self.resource_type(group, version, plural)

        def change(obj: Json) -> None:
            obj["status"] = copy.deepcopy(status)

        return self.store.mutate(rt, namespace, name, change)

    def set_condition(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        name: str,
        type: str,
        status: str,
        reason: str = "",
        message: str = "",
        *,
        observed_generation: int | None = None,
    ) -> Json:
        """Upsert `status.conditions[type]`; lastTransitionTime changes only with the status."""
        rt = self.resource_type(group, version, plural)

        def change(obj: Json) -> None:
            conditions = obj.setdefault("status", {}).setdefault("conditions", [])
            existing = next((c for c in conditions if c.get("type") == type), None)
            condition: Json = {"type": type, "status": status, "reason": reason, "message": message}
            condition["lastTransitionTime"] = (
                existing["lastTransitionTime"]
                if existing
                and existing.get("status") == status
                and "lastTransitionTime" in existing
                else now_rfc3339()
            )
            generation = (
                obj["metadata"].get("generation")
                if observed_generation is None
                else observed_generation
            )
            if generation is not None:
                condition["observedGeneration"] = generation
            if existing is None:
                conditions.append(condition)
            else:
                existing.clear()
                existing.update(condition)

        return self.store.mutate(rt, namespace, name, change)

    def delete_object(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        name: str,
        *,
        force: bool = True,
    ) -> bool:
        """Out-of-band removal; with `force`, finalizers are ignored. Returns whether it existed."""
        rt = self.resource_type(group, version, plural)
        with self.store.lock:
            key = self.store.key(rt, namespace, name)
            if key not in self.store.data[(rt.group, rt.plural)]:
                return False
            if force:
                self.store.data[(rt.group, rt.plural)][key]["metadata"].pop("finalizers", None)
            self.store.delete_internal(rt, key, "Background")
            return True

    def inject_error(
        self,
        method: str,
        match: str | RequestPredicate,
        status: int,
        reason: str,
        times: int | None = 1,
        retry_after: int | None = None,
        message: str | None = None,
    ) -> InjectedError:
        """Answer the next `times` matching requests (None = forever) with a Status error."""
        error = InjectedError(
            method.upper(),
            match,
            status,
            reason,
            message or f"injected {reason}",
            times,
            retry_after,
        )
        with self._state_lock:
            self._state.errors.append(error)
        return error

    def clear_errors(self) -> None:
        with self._state_lock:
            self._state.errors.clear()

    def allow_unknown_fields(self, group: str, plural: str, path: str) -> None:
        """Treat `path` (e.g. `spec.clusterRef`) as x-kubernetes-preserve-unknown-fields.

        For DKP 2.x fields the Kommander 1.4.2 CRDs lack, such as clusterRef.capiCluster.
        """
        rt = self.store.types[("" if group == "core" else group, plural)]
        allow_unknown_at(rt, path)

    # ---- internals ------------------------------------------------------------------------
    def _seed(self) -> None:
        ns_rt = self.store.namespace_rt()
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.put_raw(
                ns_rt, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            )
        cr_rt = self.store.types[("rbac.authorization.k8s.io", "clusterroles")]
        for name in ("cluster-admin", "admin", "edit", "view"):
            rule = {
                "apiGroups": ["*"],
                "resources": ["*"],
                "verbs": ["*"] if name in ("cluster-admin", "admin") else ["get", "list", "watch"],
            }
            self.store.put_raw(
                cr_rt,
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": name},
                    "rules": [rule],
                },
            )

    def _record(self, request: RecordedRequest) -> InjectedError | None:
        with self._state_lock:
            self._state.requests.append(request)
            for error in self._state.errors:
                if error.applies(request):
                    if error.remaining is not None:
                        error.remaining -= 1
                    return error
        return None

    def _groups(self) -> dict[str, list[ResourceType]]:
        groups: dict[str, list[ResourceType]] = {}
        for rt in self.store.types.values():
            groups.setdefault(rt.group, []).append(rt)
        return groups

    def _group_json(self, group: str, types: list[ResourceType]) -> Json:
        versions = sorted(
            {v for rt in types for v in rt.versions}, key=_version_priority, reverse=True
        )
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    def discovery(self, parts: list[str]) -> Json | None:
        groups = self._groups()
        if parts == ["version"]:
            return {
                "major": "1",
                "minor": "32",
                "gitVersion": "v1.32.0-fake",
                "platform": "linux/amd64",
                "goVersion": "go1.23",
                "compiler": "gc",
                "buildDate": "2025-01-01T00:00:00Z",
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
            }
        if parts == ["api"]:
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                ],
            }
        if parts == ["apis"]:
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [self._group_json(g, ts) for g, ts in sorted(groups.items()) if g],
            }
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in groups:
            return {
                "kind": "APIGroup",
                "apiVersion": "v1",
                **self._group_json(parts[1], groups[parts[1]]),
            }
        if parts == ["api", "v1"]:
            return self._resource_list("", "v1", groups[""])
        if len(parts) == 3 and parts[0] == "apis" and parts[1] in groups:
            types = [rt for rt in groups[parts[1]] if parts[2] in rt.versions]
            return self._resource_list(parts[1], parts[2], types) if types else None
        return None

    @staticmethod
    def _resource_list(group: str, version: str, types: list[ResourceType]) -> Json:
        resources: list[Json] = []
        for rt in sorted(types, key=lambda t: t.plural):
            entry: Json = {
                "name": rt.plural,
                "singularName": rt.singular,
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": _VERBS,
            }
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            resources.append(entry)
            if rt.status_subresource or rt.kind == "Namespace":
                resources.append(
                    {
                        "name": f"{rt.plural}/status",
                        "singularName": "",
                        "namespaced": rt.namespaced,
                        "kind": rt.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    def route(self, parts: list[str]) -> _Route | None:
        if len(parts) >= 3 and parts[0] == "api" and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (group == "" and len(rest) == 3 and rest[2] in ("status", "finalize"))
        ):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            return None
        rt = self.store.resolve(group, version, rest[0])
        if namespace is not None and not rt.namespaced:
            return None
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if subresource is not None and not (
            subresource == "status" and (rt.status_subresource or rt.kind == "Namespace")
        ):
            return None
        return _Route(rt, version, namespace, name, subresource)


def _table(rt: ResourceType, items: list[Json], list_meta: Json, include: str) -> Json:
    columns: list[Json] = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": "Name of the object",
            "priority": 0,
        }
    ]
    if rt.kind == "Namespace":
        columns.append(
            {
                "name": "Status",
                "type": "string",
                "format": "",
                "description": "The phase of the namespace",
                "priority": 0,
            }
        )
    columns.append(
        {
            "name": "Age",
            "type": "string",
            "format": "",
            "description": "CreationTimestamp",
            "priority": 0,
        }
    )
    rows = []
    for item in items:
        meta = item["metadata"]
        cells: list[Any] = [meta["name"]]
        if rt.kind == "Namespace":
            cells.append(item.get("status", {}).get("phase", ""))
        cells.append(_age(meta.get("creationTimestamp", "")))
        row: Json = {"cells": cells}
        if include == "Object":
            row["object"] = item
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeKubeApiServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake-apiserver: %s", format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---- plumbing -------------------------------------------------------------------------
    def _send(
        self,
        code: int,
        body: Json,
        warnings: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        for text in warnings or []:
            self.send_header(
                "Warning", '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
            )
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_error(self, error: ApiError) -> None:
        self._send(error.code, error.status(), headers=error.headers)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            return yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(400, "BadRequest", f"error decoding body: {exc}") from exc

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        try:
            body = self._read_body()
        except ApiError as exc:
            self._send_error(exc)
            return
        request = RecordedRequest(method, split.path, query, dict(self.headers.items()), body)
        if self.headers.get("Authorization") != f"Bearer {self.fake.token}":
            self._send(
                401,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": "Unauthorized",
                    "reason": "Unauthorized",
                    "code": 401,
                },
            )
            return
        injected = self.fake._record(request)
        if injected is not None:
            details: Json = {}
            headers: dict[str, str] = {}
            if injected.retry_after is not None:
                details["retryAfterSeconds"] = injected.retry_after
                headers["Retry-After"] = str(injected.retry_after)
            self._send_error(
                ApiError(
                    injected.status,
                    injected.reason,
                    injected.message,
                    details=details,
                    headers=headers,
                )
            )
            return
        try:
            self._handle(method, request)
        except ApiError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("client went away")
        except Exception as exc:  # a bug in the fake must surface as a 500, not a hung client
            logger.exception("fake apiserver failed on %s %s", method, self.path)
            self._send_error(ApiError(500, "InternalError", f"fake apiserver bug: {exc!r}"))

    def _handle(self, method: str, request: RecordedRequest) -> None:
        parts = [p for p in request.path.split("/") if p]
        if parts and parts[0] in ("healthz", "readyz", "livez"):
            payload = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if method == "GET":
            found = self.fake.discovery(parts)
            if found is not None:
                self._send(200, found)
                return
        if (len(parts) >= 4 and parts[0] == "apis" and parts[3] == "watch") or (
            len(parts) >= 3 and parts[:1] == ["api"] and parts[2] == "watch"
        ):
            index = 3 if parts[0] == "apis" else 2
            parts = parts[:index] + parts[index + 1 :]
            request.query["watch"] = ["true"]
        try:
            route = self.fake.route(parts)
        except ApiError:
            route = None
        if route is None:
            raise ApiError(
                404, "NotFound", "the server could not find the requested resource", details={}
            )
        self._resource(method, route, request)

    def _resource(self, method: str, route: _Route, request: RecordedRequest) -> None:
        store = self.fake.store
        rt, version, namespace, name = route.rt, route.version, route.namespace, route.name
        field_validation = request.param("fieldValidation", "Warn") or "Warn"
        dry_run = request.param("dryRun") == "All"
        body = request.body
        if method == "GET" and name is None:
            labels, fields = self._selectors(rt, request)
            if request.param("watch") in ("true", "1"):
                self._watch(route, request, labels, fields)
                return
            items, rv = store.list(rt, version, namespace, labels, fields)
            list_meta: Json = {"resourceVersion": rv}
            offset = 0
            if token := request.param("continue"):
                offset = json.loads(base64.b64decode(token))["offset"]
            limit = int(request.param("limit") or 0)
            if limit and offset + limit < len(items):
                list_meta["continue"] = base64.b64encode(
                    json.dumps({"offset": offset + limit}).encode()
                ).decode()
                list_meta["remainingItemCount"] = len(items) - offset - limit
            page = items[offset : offset + limit] if limit else items[offset:]
            self._respond_read(rt, page, list_meta, request, single=False, version=version)
        elif method == "GET":
            assert name is not None
            obj = store.get(rt, version, namespace, name)
            self._respond_read(
                rt,
                [obj],
                {"resourceVersion": obj["metadata"]["resourceVersion"]},
                request,
                single=True,
                version=version,
            )
        elif method == "POST" and name is None:
            self._send_write(
                store.create(
                    rt, version, namespace, body, field_validation=field_validation, dry_run=dry_run
                )
            )
        elif method == "PUT" and name is not None:
            self._send_write(
                store.update(
                    rt,
                    version,
                    namespace,
                    name,
                    body,
                    subresource=route.subresource,
                    field_validation=field_validation,
                    dry_run=dry_run,
                )
            )
        elif method == "PATCH" and name is not None:
            content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
            self._send_write(
                store.patch(
                    rt,
                    version,
                    namespace,
                    name,
                    body,
                    content_type,
                    subresource=route.subresource,
                    field_validation=field_validation,
                    dry_run=dry_run,
                )
            )
        elif method == "DELETE" and name is not None and route.subresource is None:
            options = dict(body) if isinstance(body, dict) else {}
            if policy := request.param("propagationPolicy"):
                options["propagationPolicy"] = policy
            self._send_write(store.delete(rt, version, namespace, name, options, dry_run=dry_run))
        elif method == "DELETE" and name is None:
            labels, fields = self._selectors(rt, request)
            items, _ = store.list(rt, version, namespace, labels, fields)
            deleted = []
            with store.lock:
                for item in items:
                    key = store.key(rt, item["metadata"].get("namespace"), item["metadata"]["name"])
                    if key in store.data[(rt.group, rt.plural)]:
                        deleted.append(
                            store.out(rt, version, store.delete_internal(rt, key, "Background"))
                        )
            self._send(
                200,
                {
                    "apiVersion": rt.api_version(version),
                    "kind": rt.list_kind,
                    "metadata": {"resourceVersion": str(store.rv)},
                    "items": deleted,
                },
            )
        else:
            raise ApiError(
                405,
                "MethodNotAllowed",
                f"the server does not allow this method on the requested resource ({method})",
            )

    def _send_write(self, result: WriteResult) -> None:
        self._send(result.code, result.body, result.warnings)

    @staticmethod
    def _selectors(rt: ResourceType, request: RecordedRequest) -> tuple[Any, Any]:
        try:
            labels = parse_label_selector(request.param("labelSelector") or "")
            fields = parse_field_selector(request.param("fieldSelector") or "", rt.field_selectors)
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {exc}") from exc
        return labels, fields

    def _respond_read(
        self,
        rt: ResourceType,
        items: list[Json],
        list_meta: Json,
        request: RecordedRequest,
        *,
        single: bool,
        version: str,
    ) -> None:
        accept = request.headers.get("Accept") or ""
        if "as=Table" in accept:
            self._send(
                200,
                _table(
                    rt, items, list_meta, request.param("includeObject", "Metadata") or "Metadata"
                ),
            )
        elif single:
            self._send(200, items[0])
        else:
            self._send(
                200,
                {
                    "apiVersion": rt.api_version(version),
                    "kind": rt.list_kind,
                    "metadata": list_meta,
                    "items": items,
                },
            )

    def _watch(self, route: _Route, request: RecordedRequest, labels: Any, fields: Any) -> None:
        store = self.fake.store
        rt = route.rt
        deadline = time.monotonic() + float(request.param("timeoutSeconds") or 1800)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def emit(kind: str, obj: Json) -> None:
            line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        def wanted(obj: Json) -> bool:
            meta = obj["metadata"]
            return (
                (route.namespace is None or meta.get("namespace") == route.namespace)
                and match_label_selector(labels, meta.get("labels"))
                and match_field_selector(fields, obj)
            )

        rv_param = request.param("resourceVersion") or ""
        with store.lock:
            if rv_param in ("", "0"):
                items, rv = store.list(rt, route.version, route.namespace, labels, fields)
                for item in items:
                    emit("ADDED", item)
                last = int(rv)
            else:
                last = int(rv_param)
                try:
                    store.events_since(last)
                except ApiError as exc:
                    emit("ERROR", exc.status())
                    last = -1
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while last >= 0 and not self.fake._stopping.is_set() and time.monotonic() < deadline:
                with store.changed:
                    pending = [
                        e for e in store.events_since(last) if e.type_key == (rt.group, rt.plural)
                    ]
                    newest = store.rv
                    if not pending and newest == last:
                        store.changed.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
                        continue
                for event in pending:
                    if wanted(event.obj):
                        emit(event.type, store.out(rt, route.version, event.obj))
                last = newest
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        self.close_connection = True
