"""The part of Cluster API (and CAPA) a deletion test needs, driven by the test between passes.

Cluster API puts the `cluster.cluster.x-k8s.io` finalizer on every Cluster; a deleted Cluster
stays, phase `Deleting`, until its infrastructure is gone. CAPA cannot delete the VPC while a
load balancer the cloud controller made for the cluster is left in it (DependencyViolation), so
here the Cluster stays Deleting while moto holds a load balancer tagged
`kubernetes.io/cluster/<name>`, and goes once none is left. The fake API server does not
cascade through ownerReferences for it, and this does not pretend to either.

It also notes, for every Cluster DELETE the API server receives, how many such load balancers
moto held at that moment: deleting the Cluster first would leave them orphaned in a real account.
"""

from __future__ import annotations

from typing import Any

from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.http import RecordedRequest
from tests.fakes.moto_server import client

CAPI = ("cluster.x-k8s.io", "v1beta1", "clusters")
FINALIZER = "cluster.cluster.x-k8s.io"


class FakeCapiController:
    """Finalizers on Clusters, and deletion that waits for the cluster's load balancers."""

    def __init__(self, kube: FakeKubeApiServer, moto_url: str) -> None:
        self.kube = kube
        self.moto_url = moto_url
        self.lbs_at_delete: dict[str, int] = {}
        # a predicate that only observes: it never matches, so no error is ever injected
        kube.inject_error("DELETE", self._on_request, 500, "InternalError", times=None)

    def load_balancers(self, cluster: str) -> list[str]:
        """ARNs of the load balancers moto holds tagged for `cluster`."""
        tagging = client(self.moto_url, "resourcegroupstaggingapi")
        found = tagging.get_resources(
            TagFilters=[{"Key": f"kubernetes.io/cluster/{cluster}"}],
            ResourceTypeFilters=["elasticloadbalancing:loadbalancer"],
        )
        return [m["ResourceARN"] for m in found["ResourceTagMappingList"]]

    def reconcile(self) -> None:
        """One pass over every Cluster: add the finalizer, or move a deletion on."""
        rt = self.kube.resource_type(*CAPI)
        for cluster in self.kube.objects(*CAPI):
            meta = cluster["metadata"]
            namespace, name = meta["namespace"], meta["name"]
            if not meta.get("deletionTimestamp"):
                if FINALIZER not in (meta.get("finalizers") or []):
                    self.kube.store.mutate(rt, namespace, name, _add_finalizer)
            elif self.load_balancers(name):
                self.kube.set_status(*CAPI, namespace, name, {"phase": "Deleting"})
            else:
                self.kube.delete_object(*CAPI, namespace, name, force=True)

    def _on_request(self, request: RecordedRequest) -> bool:
        parts = request.path.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == "clusters" and "cluster.x-k8s.io" in parts:
            self.lbs_at_delete[parts[-1]] = len(self.load_balancers(parts[-1]))
        return False


def _add_finalizer(obj: dict[str, Any]) -> None:
    obj["metadata"].setdefault("finalizers", []).append(FINALIZER)
