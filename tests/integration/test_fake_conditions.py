"""The fake API server's conditions are ones CAPI would write: a condition set without a reason
or message has neither key, so the v1beta1 Cluster stays valid and envbot's later patches of it
(the owner labels after a handover, the expiry after an extend) are accepted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from bot.demo.kube.apiserver import DEFAULT_CRD_DIR, FakeKubeApiServer
from tests.fakes.kube_client import api_client

V1BETA1 = ("cluster.x-k8s.io", "v1beta1")
pytestmark = pytest.mark.skipif(not DEFAULT_CRD_DIR.is_dir(), reason="../shared/crds is absent")


@pytest.fixture
def custom() -> Iterator[Any]:
    with FakeKubeApiServer() as fake:
        api = api_client(fake)
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name="sandbox"))
        )
        yield fake, client.CustomObjectsApi(api)
        api.close()


def test_a_cluster_with_bare_conditions_can_still_be_patched(custom: Any) -> None:
    # setup: a v1beta1 Cluster brought up as the demo's CAPI stand-in does (no reason/message)
    fake, co = custom
    body = {
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "Cluster",
        "metadata": {"name": "s1", "namespace": "sandbox", "labels": {"owner": "alice"}},
        "spec": {},
    }
    co.create_namespaced_custom_object(*V1BETA1, "sandbox", "clusters", body)
    for condition in ("InfrastructureReady", "ControlPlaneReady", "Ready"):
        fake.set_condition(*V1BETA1, "clusters", "sandbox", "s1", condition, "True")

    # execution: the handover's relabel
    patched = co.patch_namespaced_custom_object(
        *V1BETA1, "sandbox", "clusters", "s1", {"metadata": {"labels": {"owner": "bob"}}}
    )

    # validating
    assert patched["metadata"]["labels"]["owner"] == "bob"
    assert [sorted(c) for c in patched["status"]["conditions"]] == [
        ["lastTransitionTime", "status", "type"]
    ] * 3
