"""HTTP request handling (routing, tables, watch streams) for the fake Kubernetes API server."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import ssl
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import yaml

from bot.demo.kube.faults import inject
from bot.demo.kube.schema import Json, ResourceType
from bot.demo.kube.selectors import (
    SelectorError,
    match_field_selector,
    match_label_selector,
    parse_field_selector,
    parse_label_selector,
)
from bot.demo.kube.store import ApiError, WriteResult

if TYPE_CHECKING:
    from bot.demo.kube.apiserver import FakeKubeApiServer

logger = logging.getLogger(__name__)


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


@dataclass
class Route:
    rt: ResourceType
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None


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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Go (the real API server) sets TCP_NODELAY; without it the header and body writes of a
    # kept-alive response meet the client's delayed ACK and every request waits ~40 ms.
    disable_nagle_algorithm = True
    fake: FakeKubeApiServer
    muted = False  # an injected fault applies the request, then answers in its place

    def handle(self) -> None:
        # a client that timed out and reset its kept-alive connection is no error of the fake's
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle()

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
        if self.muted:
            return
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
        self.fake.hold(request)
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
        plan = self.fake.pick_fault(method, request)
        if plan is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                inject(self, plan, method, request)
            return
        try:
            self._handle(method, request)
        except ApiError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):  # the client went away
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
        self.fake.authorize(method, route, request)
        self._resource(method, route, request)

    def _resource(self, method: str, route: Route, request: RecordedRequest) -> None:
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
            obj = store.get(rt, version, namespace, name or "")  # named: a list has no name
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

    def _watch(self, route: Route, request: RecordedRequest, labels: Any, fields: Any) -> None:
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
