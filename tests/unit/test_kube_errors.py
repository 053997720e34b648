"""Kubernetes client errors become TemporaryError / PermanentError with the SDK error chained."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from bot.errors import PermanentError, TemporaryError
from provisioning.kube.client import (
    CALL_TRIES,
    NAMESPACE,
    KubeClient,
    Resource,
    map_api_exception,
    map_transport_error,
)
from provisioning.ownership import Owner

WIDGET = Resource("example.com", "v1", "widgets", "Widget", namespaced=True)


def api_error(status: int, message: str = "", retry_after: str | None = None) -> ApiException:
    exc = ApiException(status=status, reason=f"reason {status}")
    exc.body = json.dumps({"kind": "Status", "message": message}) if message else None
    exc.headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return exc


@pytest.mark.parametrize("status", [409, 429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_temporary(status):
    # execution
    err = map_api_exception(api_error(status, "etcd is unhappy"), "create Widget x")

    # validating
    assert isinstance(err, TemporaryError)
    assert f"HTTP {status}" in str(err)
    assert "etcd is unhappy" in str(err)
    assert err.retry_after == 30.0


def test_retry_after_header_is_honoured():
    err = map_api_exception(api_error(429, "slow down", retry_after="7"), "list widgets")
    assert isinstance(err, TemporaryError)
    assert err.retry_after == 7.0


def test_garbage_retry_after_falls_back_to_default():
    err = map_api_exception(api_error(503, retry_after="soon"), "list widgets")
    assert isinstance(err, TemporaryError)
    assert err.retry_after == 30.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_permanent_and_carry_the_api_message(status):
    err = map_api_exception(api_error(status, 'widgets "x" is forbidden: no'), "create Widget x")
    assert isinstance(err, PermanentError)
    assert 'widgets "x" is forbidden: no' in str(err)
    assert str(err).startswith("create Widget x: HTTP")


def test_message_falls_back_to_reason_without_a_status_body():
    exc = ApiException(status=403, reason="Forbidden")
    assert "Forbidden" in str(map_api_exception(exc, "get Widget x"))


def test_tls_failure_reported_as_status_zero_is_permanent():
    err = map_api_exception(ApiException(status=0, reason="SSLError\ncert mismatch"), "get x")
    assert isinstance(err, PermanentError)
    assert "cert mismatch" in str(err)


@pytest.mark.parametrize(
    "exc",
    [
        urllib3.exceptions.ProtocolError("Connection aborted."),
        urllib3.exceptions.ReadTimeoutError(None, "/api", "Read timed out."),  # type: ignore[arg-type]
        urllib3.exceptions.MaxRetryError(
            None,  # type: ignore[arg-type]
            "/api",
            reason=ConnectionRefusedError(111, "refused"),
        ),
    ],
)
def test_transport_errors_are_temporary(exc):
    err = map_transport_error(exc, "list widgets")
    assert isinstance(err, TemporaryError)
    assert "cannot reach the API server" in str(err)


def test_tls_transport_error_is_permanent():
    exc = urllib3.exceptions.MaxRetryError(
        None,  # type: ignore[arg-type]
        "/api",
        reason=urllib3.exceptions.SSLError("certificate verify failed"),
    )
    err = map_transport_error(exc, "list widgets")
    assert isinstance(err, PermanentError)
    assert "certificate verify failed" in str(err)


class StubCustomObjects:
    """Stands in for CustomObjectsApi: each method pops the next scripted outcome."""

    def __init__(self, **script: list[Any]) -> None:
        self.script = script
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            outcome = self.script[name].pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome, 200, {}

        return call


class StubApiClient:
    def close(self) -> None:
        pass


def kube_with(stub: StubCustomObjects) -> KubeClient:
    kube = KubeClient(StubApiClient(), label="test")
    kube._custom = stub  # type: ignore[assignment]
    return kube


def widget(name: str = "w1") -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "ns"},
    }


def test_create_conflict_reads_the_object_back():
    # setup
    stored = {**widget(), "spec": {"size": 3}}
    stub = StubCustomObjects(
        create_namespaced_custom_object_with_http_info=[api_error(409, "already exists")],
        get_namespaced_custom_object_with_http_info=[stored],
    )

    # execution
    result = kube_with(stub).create(WIDGET, widget())

    # validating
    assert result == stored
    assert [c[0] for c in stub.calls] == [
        "create_namespaced_custom_object_with_http_info",
        "get_namespaced_custom_object_with_http_info",
    ]
    assert all(c[2]["_request_timeout"] for c in stub.calls)


def test_create_conflict_with_an_object_being_deleted_is_temporary():
    dying = widget()
    dying["metadata"]["deletionTimestamp"] = "2026-01-05T09:00:00Z"
    stub = StubCustomObjects(
        create_namespaced_custom_object_with_http_info=[api_error(409)],
        get_namespaced_custom_object_with_http_info=[dying],
    )
    with pytest.raises(TemporaryError, match="still being deleted"):
        kube_with(stub).create(WIDGET, widget())


def test_create_in_a_missing_namespace_is_permanent_and_chained():
    cause = api_error(404, 'namespaces "ns" not found')
    stub = StubCustomObjects(create_namespaced_custom_object_with_http_info=[cause])
    with pytest.raises(PermanentError, match='namespaces "ns" not found') as info:
        kube_with(stub).create(WIDGET, widget())
    assert info.value.__cause__ is cause


def test_create_rejected_by_validation_is_permanent():
    cause = api_error(422, "spec.size: Invalid value")
    stub = StubCustomObjects(create_namespaced_custom_object_with_http_info=[cause])
    with pytest.raises(PermanentError, match=r"HTTP 422: spec.size: Invalid value") as info:
        kube_with(stub).create(WIDGET, widget())
    assert info.value.__cause__ is cause


def mine(name: str = "w1", rv: str = "7") -> dict[str, Any]:
    obj = widget(name)
    obj["metadata"].update(uid="uid-1", resourceVersion=rv, labels=dict(OWNER_LABELS))
    return obj


OWNER = Owner("envbot.io/env-id", "e1", "inst-a")
OWNER_LABELS = {"envbot.io/env-id": "e1", "envbot.io/install-id": "inst-a"}


def test_get_and_delete_treat_404_as_absent():
    stub = StubCustomObjects(
        get_namespaced_custom_object_with_http_info=[api_error(404), mine()],
        delete_namespaced_custom_object_with_http_info=[api_error(404)],
    )
    kube = kube_with(stub)
    assert kube.get(WIDGET, "w1", "ns") is None
    assert kube.delete_owned(WIDGET, "w1", "ns", OWNER) == "absent"
    options = stub.calls[-1][2]["body"]
    assert stub.calls[-1][2]["propagation_policy"] == "Foreground"
    assert (options.preconditions.uid, options.preconditions.resource_version) == ("uid-1", "7")


def test_delete_owned_reads_again_after_a_precondition_conflict():
    # setup: the object changed between the read and the delete, then it is read again
    stub = StubCustomObjects(
        get_namespaced_custom_object_with_http_info=[mine(rv="7"), mine(rv="8")],
        delete_namespaced_custom_object_with_http_info=[api_error(409, "Precondition failed"), {}],
    )

    # execution
    outcome = kube_with(stub).delete_owned(WIDGET, "w1", "ns", OWNER)

    # validating: the second delete names the version read second
    deletes = [c[2]["body"] for c in stub.calls if c[0].startswith("delete")]
    assert outcome == "deleted"
    assert [d.preconditions.resource_version for d in deletes] == ["7", "8"]


def test_delete_owned_leaves_another_owners_object_alone():
    other = mine()
    other["metadata"]["labels"] = {"envbot.io/env-id": "e1", "envbot.io/install-id": "inst-b"}
    stub = StubCustomObjects(get_namespaced_custom_object_with_http_info=[other])
    assert kube_with(stub).delete_owned(WIDGET, "w1", "ns", OWNER) == "foreign"
    assert [c[0] for c in stub.calls] == ["get_namespaced_custom_object_with_http_info"]


def test_list_503_is_temporary_with_retry_after_and_chained():
    cause = api_error(503, "apiserver is shutting down", retry_after="12")
    stub = StubCustomObjects(list_namespaced_custom_object_with_http_info=[cause])
    with pytest.raises(TemporaryError) as info:
        kube_with(stub).list(WIDGET, "a=b", "ns")
    assert info.value.retry_after == 12.0
    assert info.value.__cause__ is cause


def test_transport_error_during_delete_is_temporary_and_chained():
    cause = urllib3.exceptions.ProtocolError("Connection reset by peer")
    stub = StubCustomObjects(
        get_namespaced_custom_object_with_http_info=[mine()],
        delete_namespaced_custom_object_with_http_info=[cause] * CALL_TRIES,
    )
    with pytest.raises(TemporaryError) as info:
        kube_with(stub).delete_owned(WIDGET, "w1", "ns", OWNER)
    assert info.value.__cause__ is cause
    deletes = [c for c in stub.calls if c[0].startswith("delete")]
    assert len(deletes) == CALL_TRIES  # a lost answer is tried again, preconditions and all
    assert all(c[2]["body"].preconditions.resource_version == "7" for c in deletes)


def test_a_500_without_retry_after_is_tried_again_and_the_answer_used():
    stub = StubCustomObjects(
        list_namespaced_custom_object_with_http_info=[api_error(500), {"items": [mine()]}]
    )
    assert [o["metadata"]["name"] for o in kube_with(stub).list(WIDGET, "a=b", "ns")] == ["w1"]


def test_resource_paths():
    assert NAMESPACE.path(None, "dev") == "/api/v1/namespaces/dev"
    assert WIDGET.path("ns") == "/apis/example.com/v1/namespaces/ns/widgets"
    assert WIDGET.api_version == "example.com/v1"
    assert not NAMESPACE.custom
    assert WIDGET.custom
