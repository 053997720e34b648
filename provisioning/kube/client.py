"""The only module that imports `kubernetes`: plain-dict CRUD per cluster with errors mapped to
`TemporaryError`/`PermanentError`, so the backends never see an SDK type."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import urllib3
from kubernetes import client as k8s
from kubernetes import config as _k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from bot.errors import PermanentError, TemporaryError
from provisioning.kube.kubeconfig import current_context, kubeconfig_source, searched
from provisioning.kube.resources import CLUSTER_ROLE_BINDING as CLUSTER_ROLE_BINDING
from provisioning.kube.resources import LIMIT_RANGE as LIMIT_RANGE
from provisioning.kube.resources import NAMESPACE as NAMESPACE
from provisioning.kube.resources import RESOURCE_QUOTA as RESOURCE_QUOTA
from provisioning.kube.resources import ROLE_BINDING as ROLE_BINDING
from provisioning.kube.resources import Obj as Obj
from provisioning.kube.resources import Resource as Resource
from provisioning.ownership import Owner

logger = logging.getLogger(__name__)
k8s_config: Any = _k8s_config  # its loaders are untyped

TIMEOUT = (5.0, 30.0)  # (connect, read) seconds; every call passes it
_TEMPORARY = frozenset({409, 410, 429, 500, 502, 503, 504})
_DEFAULT_RETRY = 30.0
MAX_CONFLICTS = 3  # reads before an owned update or delete gives up for this pass
# Tries of one call that got a 5xx or no answer (a timeout, a reset) before the pass gives up.
# Every call is safe to repeat: a create answered 409 reads the object back (ours is adopted),
# a patch carries the resourceVersion it read and a delete its uid and resourceVersion, so a
# repeat of one that did apply is refused (409/404) and read again, never applied twice.
CALL_TRIES = 3
_REPEATABLE = frozenset({500, 502, 503, 504})
Deletion = Literal["absent", "foreign", "deleted"]


def _api_message(exc: ApiException) -> str:
    """The `message` of the Status body the API server sent, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or "no message")


def _retry_after(exc: ApiException) -> float:
    headers = exc.headers or {}
    try:
        return max(1.0, float(headers.get("Retry-After", _DEFAULT_RETRY)))
    except (TypeError, ValueError):
        return _DEFAULT_RETRY


def map_api_exception(exc: ApiException, what: str) -> TemporaryError | PermanentError:
    """Turn an `ApiException` into the error a job understands; the caller chains it."""
    status = int(exc.status or 0)
    text = f"{what}: HTTP {status}: {_api_message(exc)}"
    if status in _TEMPORARY:
        return TemporaryError(text, retry_after=_retry_after(exc))
    if status == 0:  # TLS failure or a request the client could not build
        return PermanentError(f"{what}: {exc.reason}")
    return PermanentError(text)


def map_transport_error(
    exc: urllib3.exceptions.HTTPError, what: str
) -> TemporaryError | PermanentError:
    """Connection refused, resets and timeouts are temporary; a TLS failure is not."""
    reason = getattr(exc, "reason", None)
    if isinstance(exc, urllib3.exceptions.SSLError) or isinstance(
        reason, urllib3.exceptions.SSLError
    ):
        return PermanentError(f"{what}: TLS error talking to the API server: {reason or exc}")
    return TemporaryError(f"{what}: cannot reach the API server: {exc}", retry_after=_DEFAULT_RETRY)


def _describe(res: Resource, name: str, namespace: str | None) -> str:
    return (
        f"{res.kind} {namespace}/{name}" if res.namespaced and namespace else f"{res.kind} {name}"
    )


class KubeConfigError(PermanentError):
    """No usable kubeconfig or in-cluster config; the message says where it looked and what to
    set."""


class KubeClient:
    """Plain-dict create/get/list against one cluster's API server; updates and deletes only
    through `patch_owned`/`delete_owned`, which check the owner of exactly what they change."""

    def __init__(
        self, api_client: Any, *, label: str = "cluster", timeout: tuple[float, float] = TIMEOUT
    ) -> None:
        self._api = api_client
        self._timeout = timeout
        self._custom = k8s.CustomObjectsApi(api_client)
        self.label = label

    def close(self) -> None:
        """Release the connection pool."""
        self._api.close()

    def create(self, res: Resource, obj: Obj) -> Obj:
        """Create `obj`, or return the object already stored under its name (409 is success).

        Raises:
            TemporaryError: the API server is unavailable or the old object is being deleted.
            PermanentError: rejected (invalid, forbidden, or the namespace does not exist).
        """
        meta = obj.get("metadata", {})
        name, namespace = meta["name"], meta.get("namespace")
        what = f"create {_describe(res, name, namespace)} on {self.label}"
        for _ in range(MAX_CONFLICTS):
            try:
                return self._send(res, "POST", namespace, None, body=obj)
            except ApiException as exc:
                if exc.status == 404:
                    raise PermanentError(
                        f"{what}: not found (missing namespace or CRD): {_api_message(exc)}"
                    ) from exc
                if exc.status != 409:
                    raise map_api_exception(exc, what) from exc
            except urllib3.exceptions.HTTPError as exc:
                raise map_transport_error(exc, what) from exc
            existing = self.get(res, name, namespace)
            if existing is None:  # a Conflict that was not AlreadyExists: nothing stored
                logger.info("%s: conflict, and nothing of that name; creating again", what)
                continue
            if existing.get("metadata", {}).get("deletionTimestamp"):
                raise TemporaryError(
                    f"{what}: the old object is still being deleted", retry_after=30.0
                )
            return existing
        raise TemporaryError(f"{what}: conflict, then gone, every time; retry", retry_after=5.0)

    def get(self, res: Resource, name: str, namespace: str | None = None) -> Obj | None:
        """Read one object; None when it does not exist."""
        what = f"get {_describe(res, name, namespace)} on {self.label}"
        return self._guarded(what, lambda: self._send(res, "GET", namespace, name), missing_ok=True)

    def list(self, res: Resource, label_selector: str, namespace: str | None = None) -> list[Obj]:
        """List objects matching `label_selector`, in one namespace or (None) in all of them."""
        where = f" in {namespace}" if namespace else ""
        query = {"labelSelector": label_selector}
        result = self._guarded(
            f"list {res.plural}{where} on {self.label}",
            lambda: self._send(res, "GET", namespace, None, query=query),
        )
        return list((result or {}).get("items") or [])

    def patch_owned(
        self, res: Resource, name: str, patch: Obj, namespace: str | None, owner: Owner
    ) -> Obj:
        """Read the object, check its owner, then apply a JSON merge patch (RFC 7386) to exactly
        the version read: the patch carries `metadata.resourceVersion`, so an object changed or
        replaced after the read is not hit (409, then read and check again).

        Raises:
            PermanentError: the object is not ours, or the patch was rejected.
            TemporaryError: it is gone, kept changing, or the API server is unavailable.
        """
        what = f"patch {_describe(res, name, namespace)} on {self.label}"
        for _ in range(MAX_CONFLICTS):
            current = self.get(res, name, namespace)
            if current is None:
                raise TemporaryError(f"{what}: it is gone; retry", retry_after=5.0)
            meta = current.get("metadata") or {}
            if not owner.owns(meta.get("labels")):
                raise PermanentError(
                    f"{what}: {owner.refusal(res.kind + ' ' + name, meta.get('labels'))}"
                )
            body = {
                **patch,
                "metadata": {
                    **(patch.get("metadata") or {}),
                    "resourceVersion": meta.get("resourceVersion"),
                },
            }
            try:
                return self._send(res, "PATCH", namespace, name, body=body)
            except ApiException as exc:
                if exc.status != 409:
                    raise map_api_exception(exc, what) from exc
                logger.info("%s: changed since read, reading again: %s", what, _api_message(exc))
            except urllib3.exceptions.HTTPError as exc:
                raise map_transport_error(exc, what) from exc
        raise TemporaryError(f"{what}: it changed after every read; retry", retry_after=5.0)

    def delete_owned(
        self, res: Resource, name: str, namespace: str | None, owner: Owner
    ) -> Deletion:
        """Read the object, check its owner, then delete exactly the object read.

        The delete carries preconditions (uid and resourceVersion) and foreground propagation, so
        an object replaced or changed after the read is not hit: the API server answers 409 and
        the object is read and checked again. What is not ours is left alone and logged.

        Returns:
            "absent" (nothing of that name), "foreign" (not ours: left alone), or "deleted"
            (deleted now, or already being deleted).

        Raises:
            TemporaryError: it kept changing, or the API server is unavailable.
            PermanentError: the delete was refused (forbidden).
        """
        what = f"delete {_describe(res, name, namespace)} on {self.label}"
        for _ in range(MAX_CONFLICTS):
            current = self.get(res, name, namespace)
            if current is None:
                return "absent"
            meta = current.get("metadata") or {}
            if not owner.owns(meta.get("labels")):
                logger.warning(
                    "%s: not ours, left alone: %s",
                    what,
                    owner.refusal(f"{res.kind} {name}", meta.get("labels")),
                )
                return "foreign"
            if meta.get("deletionTimestamp"):
                return "deleted"
            options = k8s.V1DeleteOptions(
                propagation_policy="Foreground",
                preconditions=k8s.V1Preconditions(
                    uid=meta.get("uid"), resource_version=meta.get("resourceVersion")
                ),
            )
            query = {"propagationPolicy": "Foreground"}
            try:
                self._send(res, "DELETE", namespace, name, body=options, query=query)
            except ApiException as exc:
                if exc.status == 404:
                    return "absent"
                if exc.status != 409:
                    raise map_api_exception(exc, what) from exc
                logger.info("%s: changed since read, reading again: %s", what, _api_message(exc))
                continue
            except urllib3.exceptions.HTTPError as exc:
                raise map_transport_error(exc, what) from exc
            return "deleted"
        raise TemporaryError(f"{what}: it changed after every read; retry", retry_after=5.0)

    def server_version(self) -> Obj:
        """GET /version: the API server's build as it reports it (major, minor, gitVersion)."""
        what = f"read the version of {self.label}"

        def call() -> Obj:
            info = k8s.VersionApi(self._api).get_code(_request_timeout=self._timeout)
            return {"major": info.major, "minor": info.minor, "gitVersion": info.git_version}

        return self._guarded(what, call) or {}

    @staticmethod
    def _guarded(what: str, call: Callable[[], Obj], *, missing_ok: bool = False) -> Obj | None:
        """Run one call, mapping errors; a 404 gives None when `missing_ok`."""
        try:
            return call()
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise map_api_exception(exc, what) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise map_transport_error(exc, what) from exc

    def _send(
        self,
        res: Resource,
        method: str,
        namespace: str | None,
        name: str | None,
        *,
        body: Obj | k8s.V1DeleteOptions | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Obj:
        """One HTTP call, tried again (CALL_TRIES in all) after a 5xx or no answer; SDK
        exceptions propagate to the caller's mapping."""
        call = _Call(res, method, namespace, name, body, dict(query or {}))
        for attempt in range(1, CALL_TRIES):
            try:
                return self._send_once(call)
            except ApiException as exc:
                if exc.status not in _REPEATABLE or (exc.headers or {}).get("Retry-After"):
                    raise  # a server asking for a pause gets it: the job backs off
                reason: object = f"HTTP {exc.status}: {_api_message(exc)}"
            except urllib3.exceptions.HTTPError as exc:
                if isinstance(map_transport_error(exc, ""), PermanentError):
                    raise
                reason = exc
            logger.info(
                "%s %s on %s: %s; trying again (%d of %d)",
                method,
                call.path,
                self.label,
                reason,
                attempt + 1,
                CALL_TRIES,
            )
        return self._send_once(call)

    def _send_once(self, call: _Call) -> Obj:
        data, headers = self._custom_call(call) if call.res.custom else self._raw_call(call)
        warning = (headers or {}).get("Warning")
        if warning:
            # Dropped unknown fields are worth a warning; a deprecated version on every list is not.
            level = logging.DEBUG if "deprecated" in warning else logging.WARNING
            logger.log(level, "API server warning on %s %s: %s", call.method, call.path, warning)
        return data if isinstance(data, dict) else {}

    def _custom_call(self, call: _Call) -> tuple[Any, Mapping[str, str] | None]:
        res, scoped = call.res, bool(call.res.namespaced and call.namespace)
        verb = {"POST": "create", "GET": "get" if call.name else "list"}.get(call.method)
        scope = "namespaced" if scoped else "cluster"
        fn: Callable[..., Any] = getattr(
            self._custom, f"{verb or call.method.lower()}_{scope}_custom_object_with_http_info"
        )
        args = [res.group, res.version, *([call.namespace] if scoped else []), res.plural]
        kwargs: dict[str, Any] = {"_request_timeout": self._timeout}
        if call.body is not None:
            kwargs["body"] = call.body
        for param, kwarg in (
            ("labelSelector", "label_selector"),
            ("propagationPolicy", "propagation_policy"),
        ):
            if param in call.query:
                kwargs[kwarg] = call.query[param]
        data, _status, headers = fn(*args, *([call.name] if call.name else []), **kwargs)
        return data, headers

    def _raw_call(self, call: _Call) -> tuple[Any, Mapping[str, str] | None]:
        headers = {"Accept": "application/json"}
        if call.body is not None:
            patch = call.method == "PATCH"
            headers["Content-Type"] = f"application/{'merge-patch+' if patch else ''}json"
        request = self._api.param_serialize(
            method=call.method,
            resource_path=call.path,
            query_params=list(call.query.items()),
            header_params=headers,
            body=call.body,
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(*request, _request_timeout=self._timeout)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return json.loads(response.data or b"{}"), response.getheaders()


@dataclass(frozen=True)
class _Call:
    res: Resource
    method: str
    namespace: str | None
    name: str | None
    body: Obj | k8s.V1DeleteOptions | None  # the SDK serializes either
    query: dict[str, str]

    @property
    def path(self) -> str:
        return self.res.path(self.namespace, self.name)


class KubeClients:
    """The management cluster's client plus lazily built clients for the configured clusters.

    The kubeconfig is found as kubectl finds it (`provisioning.kube.kubeconfig`); with none,
    the management client uses the pod's in-cluster service account. `timeout` is every
    call's (connect, read) timeout in seconds.
    """

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        clusters: Mapping[str, str] | None = None,
        *,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self._timeout = timeout
        self._kubeconfig = kubeconfig or None
        self._context = context or None
        self._contexts = dict(clusters or {})
        self._clients: dict[str, KubeClient] = {}
        self._lock = threading.Lock()

    def management(self) -> KubeClient:
        """The client for the management cluster (where CAPI and Kommander objects live)."""
        return self._client("", self._context)

    def cluster(self, name: str) -> KubeClient:
        """The client for one configured cluster; "" means the management cluster.

        Raises:
            PermanentError: the name is not configured or its kubeconfig context is unusable.
        """
        if not name:
            return self.management()
        if name not in self._contexts:
            raise PermanentError(
                f"cluster {name!r} is not configured (known: {sorted(self._contexts)})"
            )
        return self._client(name, self._contexts[name])

    def close(self) -> None:
        """Close every client built so far."""
        with self._lock:
            for kube in self._clients.values():
                kube.close()
            self._clients.clear()

    def _client(self, key: str, context: str | None) -> KubeClient:
        with self._lock:
            if key not in self._clients:
                self._clients[key] = KubeClient(
                    self._build(context), label=key or "management", timeout=self._timeout
                )
            return self._clients[key]

    def _build(self, context: str | None) -> Any:
        source = kubeconfig_source(self._kubeconfig)
        if source is None and context is not None:
            raise KubeConfigError(
                f"context {context!r} needs a kubeconfig, and none was found: {searched()}; "
                "set ENVBOT_KUBECONFIG"
            )
        try:
            if source is None:
                configuration = k8s.Configuration()
                k8s_config.load_incluster_config(client_configuration=configuration)
                return k8s.ApiClient(configuration)
            return k8s_config.new_client_from_config(
                config_file=source,
                context=context or current_context(source),
                persist_config=False,
            )
        except ConfigException as exc:
            reason = str(exc).rstrip(".")
            if source is None:
                raise KubeConfigError(
                    f"no kubeconfig found ({searched()}) and the in-cluster config failed "
                    f"(not in a pod?): {reason}; set ENVBOT_KUBECONFIG or KUBECONFIG"
                ) from exc
            raise KubeConfigError(
                f"cannot load Kubernetes config {source} (context {context!r}): {reason}"
            ) from exc
        except OSError as exc:
            raise KubeConfigError(
                f"cannot load Kubernetes config (context {context!r}): {exc}"
            ) from exc
