"""A fake Kubernetes API server on loopback for the real `kubernetes` client and kubectl.

It needs no Kubernetes client itself (tests build one with tests.fakes.kube_client); it serves
`envbot demo --serve` as well as the tests, so it lives in the package."""

from __future__ import annotations

import base64
import copy
import logging
import re
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import yaml

from bot.demo.kube.authz import Attributes, Authorizer, request_verb
from bot.demo.kube.builtins import builtin_types, fallback_crd_types
from bot.demo.kube.faults import ALL_KUBE_FAULTS, KubeFault, KubeFaultProfile, Plan, faultable
from bot.demo.kube.http import Handler, RecordedRequest, Route
from bot.demo.kube.schema import Json, ResourceType, allow_unknown_at, load_crd_types
from bot.demo.kube.store import ApiError, Store, now_rfc3339

logger = logging.getLogger(__name__)

# The real CRD schemas sit next to a checkout (../shared/crds); without them the fake serves
# the kinds envbot uses with required-field checks only (kube_builtins.fallback_crd_types).
DEFAULT_CRD_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "crds"
_AUTO = "auto"
_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


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


def _version_priority(version: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (0, 0, 0)
    stability = {"alpha": 1, "beta": 2, None: 3}[match.group(2)]
    return (stability, int(match.group(1)), int(match.group(3) or 0))


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
        authorizer: Authorizer | None = None,
        version: str = "v1.32.0",
    ) -> None:
        """With `authorizer`, every resource request is checked against its RBAC rules."""
        self.version = version  # gitVersion served at /version, e.g. v1.28.9-eks-036c24b
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
        self.faults: KubeFaultProfile | None = None
        # Seconds every resource request is held before it is handled (a fixed service time,
        # as a loaded API server's); each connection has its own thread, so held requests
        # overlap. Set with `set_service_time`.
        self.service_time = 0.0
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.tls = tls
        self.authorizer = authorizer
        self.ca_pem: bytes | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-kube-")
        self._seed()

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeKubeApiServer:
        handler = type("_BoundHandler", (Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        if self.tls:
            self.ca_pem = self._wrap_tls(self._httpd)
        self._thread = threading.Thread(
            # stop() waits for the loop's next poll: 0.05 s, not the default 0.5 s per test
            target=self._httpd.serve_forever,
            args=(0.05,),
            name="fake-kube-apiserver",
            daemon=True,
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
        from bot.demo.kube.tls import self_signed_certificate

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

    def write_kubeconfig(
        self, path: Path | str, context: str = "fake", also: Iterable[str] = ()
    ) -> Path:
        """Write a kubeconfig whose current context is `context`, plus a context (and its
        cluster and user) for each name in `also`, all pointing at this server."""
        config = self.kubeconfig(context)
        for other in also:
            extra = self.kubeconfig(other)
            for key in ("clusters", "users", "contexts"):
                config[key].extend(extra[key])
        target = Path(path)
        target.write_text(yaml.safe_dump(config), encoding="utf-8")
        return target

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
            condition: Json = {"type": type, "status": status}
            # CAPI's controllers (Go, `omitempty`) never write an empty reason or message, and
            # the v1beta1 CRD refuses one (minLength 1) on every later write of the object.
            if reason:
                condition["reason"] = reason
            if message:
                condition["message"] = message
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

    def inject_faults(
        self,
        rate: float,
        seed: int = 0,
        kinds: tuple[str, ...] = ("409", "500", "timeout"),
        *,
        hold: float = 35.0,
    ) -> KubeFaultProfile:
        """Fail about `rate` of the requests from now on with one of `kinds` ("409", "500",
        "timeout"; a timeout holds the request `hold` seconds, past the client's timeout, then
        closes it unanswered). Queued `inject_error` failures still come first; `rate` 0 stops.
        Returns the profile, whose `injected` counts what was injected by kind."""
        try:
            chosen = tuple(KubeFault(k) for k in kinds)
        except ValueError as exc:
            known = ", ".join(k.value for k in ALL_KUBE_FAULTS)
            raise ValueError(f"{exc}; the fault kinds are {known}") from exc
        profile = KubeFaultProfile(rate=rate, seed=seed, kinds=chosen, hold=hold)
        with self._state_lock:
            self.faults = profile if rate > 0 else None
        return profile

    def set_service_time(self, seconds: float, *, schema_validation: bool = True) -> None:
        """Hold every later resource request `seconds` before handling it, and check written
        objects against their schema only when `schema_validation` (benches turn it off so
        the fixed service time is the server's whole cost)."""
        if seconds < 0:
            raise ValueError(f"service time must be 0 or more seconds, got {seconds}")
        self.service_time = seconds
        self.store.schema_validation = schema_validation

    def hold(self, request: RecordedRequest) -> None:
        """Wait the service time before a resource request (never a health check); a stop
        cuts the wait short."""
        if self.service_time > 0 and faultable(request):
            self._stopping.wait(self.service_time)

    def pick_fault(self, method: str, request: RecordedRequest) -> Plan | None:
        """The random fault for this request, if faults are on and one is drawn."""
        with self._state_lock:
            profile = self.faults
        if profile is None or not faultable(request):
            return None
        return profile.pick(method)

    def clear_errors(self) -> None:
        with self._state_lock:
            self._state.errors.clear()

    def allow_unknown_fields(self, group: str, plural: str, path: str) -> None:
        """Treat `path` (e.g. `spec.clusterRef`) as x-kubernetes-preserve-unknown-fields.

        For DKP 2.x fields the Kommander 1.4.2 CRDs lack, such as clusterRef.capiCluster.
        """
        rt = self.store.types[("" if group == "core" else group, plural)]
        allow_unknown_at(rt, path)

    # ---- authorization --------------------------------------------------------------------
    def authorize(self, method: str, route: Route, request: RecordedRequest) -> None:
        """Raise the API server's 403 when the authorizer's rules do not allow this request."""
        if self.authorizer is None:
            return
        rt = route.rt
        body = request.body if isinstance(request.body, dict) else {}
        name = route.name or ""
        # RequestInfoFactory: /api/v1/namespaces/<name> carries <name> as the namespace too.
        namespace = route.namespace or (name if rt.kind == "Namespace" else "")
        watch = request.param("watch") in ("true", "1")
        verb = request_verb(method, named=route.name is not None, watch=watch)
        self.authorizer.authorize(
            Attributes(verb, rt.group, rt.plural, route.subresource or "", namespace, name)
        )
        if rt.kind in ("RoleBinding", "ClusterRoleBinding") and verb in (
            "create",
            "update",
            "patch",
        ):
            role_ref = body.get("roleRef")
            if role_ref is None and route.name is not None:
                stored = self.get_object(rt.group, route.version, rt.plural, route.namespace, name)
                role_ref = (stored or {}).get("roleRef")
            if not isinstance(role_ref, dict):
                return  # nothing to bind: validation answers the request
            binding = name or str((body.get("metadata") or {}).get("name", ""))
            self.authorizer.check_binding(
                rt.kind, route.namespace or "", binding, role_ref, self._role_rules(role_ref, route)
            )

    def _role_rules(self, role_ref: Json, route: Route) -> list[Json]:
        kind, role = role_ref.get("kind"), str(role_ref.get("name", ""))
        plural = "clusterroles" if kind == "ClusterRole" else "roles"
        namespace = None if kind == "ClusterRole" else route.namespace
        found = self.get_object("rbac.authorization.k8s.io", "v1", plural, namespace, role)
        if found is None:
            raise ApiError(
                404,
                "NotFound",
                f'{plural}.rbac.authorization.k8s.io "{role}" not found',
                details={"name": role, "group": "rbac.authorization.k8s.io", "kind": plural},
            )
        return list(found.get("rules") or [])

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

    def _version_info(self) -> Json:
        """GET /version as a real API server answers: strings only; a vendor build (a suffix
        after the patch, e.g. EKS's v1.28.9-eks-036c24b) reports its minor with a trailing "+"."""
        match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)(.*)", self.version)
        if match is None:
            raise ValueError(f"version must look like v1.30.2, got {self.version!r}")
        return {
            "major": match.group(1),
            "minor": match.group(2) + ("+" if match.group(4) else ""),
            "gitVersion": self.version,
            "gitCommit": "0" * 40,
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.23",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def discovery(self, parts: list[str]) -> Json | None:
        groups = self._groups()
        if parts == ["version"]:
            return self._version_info()
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

    def route(self, parts: list[str]) -> Route | None:
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
        return Route(rt, version, namespace, name, subresource)
