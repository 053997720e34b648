"""The `capi` environment backend: a Cluster API `Cluster` (a ClusterClass topology, or the
object set a `manifests` template renders, see `templates.py`) plus the `KommanderCluster` that
attaches it to its workspace, all in the workspace namespace.

API version: the `Cluster` is written as `cluster.x-k8s.io/v1beta1` by default. DKP 2.x ships
v1beta1-era Cluster API, which does not serve v1beta2 at all, while current Cluster API (v1.14,
the CRD in `shared/crds`) still serves v1beta1 (deprecated) and converts it to the v1beta2
storage version. v1beta1 is therefore the one version both can take; pass
`api_version="v1beta2"` for a management cluster on Cluster API 1.11+ (the topology spelling
differs: `class` versus `classRef.name`). Reading tolerates both condition sets.

Progress is read by `capi_status` (v1beta1 and v1beta2): infrastructure ready, control plane
ready, every MachineDeployment of the cluster with its desired replicas available, and the
KommanderCluster `status.phase == Joined`; READY needs all four.
`endpoints["api_server"]` is `https://<KommanderCluster status.ingress.address>/dkp/api-server`
(the kube-oidc-proxy path of DKP 2.x), present only once Kommander has published the address.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.domain.clock import Clock, SystemClock
from bot.errors import PermanentError
from provisioning.base import EnvSpec, Observation, Phase
from provisioning.kube import labels as lbl
from provisioning.kube import templates as tpl
from provisioning.kube.capi_status import CLUSTER_NAME_LABEL, progress
from provisioning.kube.client import KubeClient, KubeClients, Obj, Resource
from provisioning.kube.clusterclass import topology_problems
from provisioning.kube.ingress import kommander_endpoints
from provisioning.kube.topology import topology_stuck
from provisioning.ownership import Claim, Owner

logger = logging.getLogger(__name__)

CAPI_GROUP = "cluster.x-k8s.io"
KOMMANDER_CLUSTER = Resource(
    "kommander.mesosphere.io", "v1beta1", "kommanderclusters", "KommanderCluster", namespaced=True
)
DEFAULT_WORKER_CLASS = "default-worker"


def cluster_resource(api_version: str) -> Resource:
    """The `clusters` resource in the given Cluster API version (v1beta1 or v1beta2)."""
    if api_version not in ("v1beta1", "v1beta2"):
        raise ValueError(f"unsupported Cluster API version {api_version!r}")
    return Resource(CAPI_GROUP, api_version, "clusters", "Cluster", namespaced=True)


def env_labels(spec: EnvSpec) -> dict[str, str]:
    """The labels every object of an environment carries."""
    return {
        lbl.MANAGED: "true",
        lbl.ENV_ID: lbl.label_value(spec.env_id),
        lbl.INSTALL_ID: lbl.label_value(spec.install_id),
        lbl.OWNER: lbl.label_value(spec.owner_id),
        lbl.TEMPLATE: lbl.label_value(spec.template),
    }


def env_owner(spec: EnvSpec) -> Owner:
    """Who every object of the environment must belong to (its id and this install)."""
    return lbl.env_owner(spec.env_id, spec.install_id)


def _what(res: Resource, spec: EnvSpec, name: str = "") -> str:
    return f"{res.kind} {spec.namespace}/{name or spec.name}"


def env_annotations(spec: EnvSpec) -> dict[str, str]:
    """The annotations every object of an environment carries."""
    return {lbl.EXPIRES_AT: lbl.iso(spec.expires_at), lbl.OWNER_EMAIL: spec.owner_email}


def _metadata(spec: EnvSpec) -> Obj:
    return {
        "name": spec.name,
        "namespace": spec.namespace,
        "labels": env_labels(spec),
        "annotations": env_annotations(spec),
    }


def cluster_manifest(spec: EnvSpec, api_version: str, worker_class: str) -> Obj:
    """The `Cluster` object for `spec`, spelled for `api_version`."""
    topo = spec.topology
    if topo is None:
        raise PermanentError(f"template {spec.template!r} has no cluster topology")
    topology: Obj = {
        "version": topo.version,
        "controlPlane": {"replicas": topo.control_plane_replicas},
        "workers": {
            "machineDeployments": [
                {"class": worker_class, "name": "md-0", "replicas": topo.worker_replicas}
            ]
        },
    }
    if api_version == "v1beta1":
        topology["class"] = topo.cluster_class
    else:
        topology["classRef"] = {"name": topo.cluster_class}
    variables = tpl.topology_variables(spec)
    if variables:  # v1beta2 rejects an empty list (minItems 1)
        topology["variables"] = [{"name": k, "value": v} for k, v in variables.items()]
    return {
        "apiVersion": f"{CAPI_GROUP}/{api_version}",
        "kind": "Cluster",
        "metadata": _metadata(spec),
        "spec": {"topology": topology},
    }


def kommander_cluster_manifest(spec: EnvSpec) -> Obj:
    """The `KommanderCluster` that attaches the cluster to the workspace.

    `clusterRef.capiCluster` is the DKP 2.2+ field; the Kommander 1.4.2 CRD lacks it, so an old
    API server drops it with a warning and falls back to `kubeconfigRef`, which both accept.
    """
    return {
        "apiVersion": KOMMANDER_CLUSTER.api_version,
        "kind": "KommanderCluster",
        "metadata": _metadata(spec),
        "spec": {
            "kubeconfigRef": {"name": f"{spec.name}-kubeconfig"},
            "clusterRef": {"capiCluster": {"name": spec.name}},
        },
    }


def _failure(cluster: Mapping[str, Any] | None, kc: Mapping[str, Any] | None) -> str:
    status = (cluster or {}).get("status") or {}
    old = (status.get("deprecated") or {}).get("v1beta1") or {}
    message = next(
        (str(s[k]) for s in (status, old) for k in ("failureMessage", "failureReason") if s.get(k)),
        "",
    )
    if message or status.get("phase") == "Failed":
        return message or "Cluster API reports the cluster as Failed"
    if ((kc or {}).get("status") or {}).get("phase") == "Failed":
        return "Kommander could not attach the cluster (KommanderCluster phase Failed)"
    return ""


def machine_deployment_resource(api_version: str) -> Resource:
    """The `machinedeployments` resource in the Cluster API version the Clusters are read in."""
    res = cluster_resource(api_version)
    return Resource(CAPI_GROUP, res.version, "machinedeployments", "MachineDeployment", True)


def _deleting(cluster: Mapping[str, Any] | None, kc: Mapping[str, Any] | None) -> bool:
    if cluster and ((cluster.get("status") or {}).get("phase") == "Deleting"):
        return True
    return any(obj and lbl.meta(obj).get("deletionTimestamp") for obj in (cluster, kc))


def _created(obj: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(lbl.meta(obj).get("creationTimestamp")))
    except ValueError:
        return None


class CapiBackend:
    """Environments as CAPI clusters attached to Kommander workspaces on the management cluster."""

    name = "capi"

    def __init__(
        self,
        clients: KubeClients,
        *,
        api_version: str = "v1beta1",
        worker_class: str = DEFAULT_WORKER_CLASS,
        clock: Clock | None = None,
        drift_grace: timedelta = timedelta(minutes=5),
    ) -> None:
        self._clients = clients
        self.cluster_resource = cluster_resource(api_version)
        self._md_resource = machine_deployment_resource(api_version)
        self._worker_class = worker_class
        self._clock = clock or SystemClock()
        self._grace = drift_grace

    @property
    def _kube(self) -> KubeClient:
        return self._clients.management()

    def create(self, spec: EnvSpec) -> None:
        """Check the names are free (or ours), then create the cluster's objects and the
        KommanderCluster; existing ones of this env are kept, their labels, annotations and AWS
        tags brought up to date, and ones from before install ids are adopted.

        A `manifests` template creates every object it renders (the Cluster first); a
        `topology` template first checks its variables against the ClusterClass.

        Raises:
            TemporaryError: the API server is unavailable; retry later.
            NameTaken: an object of one of those names is not this environment's.
            PermanentError: rejected, or the variables do not fit the ClusterClass.
        """
        res = self.cluster_resource
        if spec.manifests is not None:
            objects = tpl.render_manifests(spec, env_labels(spec), env_annotations(spec))
        else:
            topo = spec.topology
            if topo is not None:
                problems = topology_problems(
                    self._kube,
                    res.version,
                    spec.namespace,
                    spec.template,
                    topo.cluster_class,
                    tpl.topology_variables(spec),
                )
                if problems:
                    raise PermanentError("; ".join(problems))
            objects = [(res, cluster_manifest(spec, res.version, self._worker_class))]
        objects.append((KOMMANDER_CLUSTER, kommander_cluster_manifest(spec)))
        owner = env_owner(spec)
        for kind, obj in objects:
            name = obj["metadata"]["name"]
            found = self._kube.get(kind, name, spec.namespace)
            if found is not None:
                lbl.ensure_owned(found, owner, _what(kind, spec, name), name=spec.name)
        for kind, obj in objects:
            self._apply(kind, obj, spec)

    def _apply(self, res: Resource, manifest: Obj, spec: EnvSpec) -> None:
        stored = self._kube.create(res, manifest)
        owner = env_owner(spec)
        name = manifest["metadata"]["name"]
        claim = lbl.ensure_owned(stored, owner, _what(res, spec, name), name=spec.name)
        if claim is Claim.LEGACY or lbl.mismatches(stored, env_labels(spec), env_annotations(spec)):
            # A retried create after an extension refreshes expires-at and repairs our labels;
            # an object from before install ids gets the install-id label (adopted).
            patch = {"metadata": {"labels": env_labels(spec), "annotations": env_annotations(spec)}}
            self._kube.patch_owned(res, name, patch, spec.namespace, owner)
        tags = tpl.tag_patch(stored, spec)
        if tags is not None:  # after an extension: the AWS expiration tag follows the expiry
            self._kube.patch_owned(res, name, tags, spec.namespace, owner)

    def observe(
        self, specs: Sequence[EnvSpec], *, expected_ready: bool = False
    ) -> dict[str, Observation]:
        """Observe environments with one list per kind and namespace, keyed by env id: the
        number of requests depends on the namespaces, never on how many environments.

        Args:
            specs: the environments to look at.
            expected_ready: the caller holds these environments READY, so a missing object is
                drift at once rather than after `drift_grace` (create() makes both in seconds).
        """
        clusters: dict[tuple[str, str], Obj] = {}
        kcs: dict[tuple[str, str], Obj] = {}
        mds: dict[tuple[str, str], list[Obj]] = {}
        for namespace in sorted({s.namespace for s in specs}):
            for res, into in ((self.cluster_resource, clusters), (KOMMANDER_CLUSTER, kcs)):
                for obj in self._kube.list(res, lbl.MANAGED_SELECTOR, namespace):
                    into[lbl.key_of(obj)] = obj
            # Every MachineDeployment that names a cluster, in one list whatever the number of
            # environments (a `name in (...)` selector grows with N), kept for ours by name.
            names = {s.name for s in specs if s.namespace == namespace}
            for md in self._kube.list(self._md_resource, CLUSTER_NAME_LABEL, namespace):
                owner = str(lbl.meta(md).get("labels", {}).get(CLUSTER_NAME_LABEL))
                if owner in names:
                    mds.setdefault((namespace, owner), []).append(md)
        # What carries our name but not our owner is, for this environment, not there.
        found = {
            s.env_id: (
                lbl.owned(clusters.get((s.namespace, s.name)), env_owner(s)),
                lbl.owned(kcs.get((s.namespace, s.name)), env_owner(s)),
            )
            for s in specs
        }
        gone = [s for s in specs if found[s.env_id] == (None, None)]
        left = {s.env_id: self._leftovers(s) for s in gone if s.manifests is not None}
        return {
            s.env_id: (
                Observation(Phase.DELETING, drift="; ".join(left[s.env_id]))
                if left.get(s.env_id)
                else self._observation(
                    s, *found[s.env_id], mds.get((s.namespace, s.name), []), expected_ready
                )
            )
            for s in specs
        }

    def _observation(
        self,
        spec: EnvSpec,
        cluster: Obj | None,
        kc: Obj | None,
        mds: list[Obj],
        expected_ready: bool,
    ) -> Observation:
        if cluster is None and kc is None:
            return Observation(Phase.DELETED, exists=False)
        if _deleting(cluster, kc):
            return Observation(Phase.DELETING)
        endpoints = kommander_endpoints(kc)
        failure = _failure(cluster, kc)
        if not failure and spec.topology is not None:
            failure = topology_stuck(cluster, self._clock.now(), spec.topology.grace)
        phase = Phase.FAILED if failure else progress(cluster, kc, mds)
        drift = "; ".join(self._drift(spec, cluster, kc, expected_ready))
        return Observation(phase, failure=failure, drift=drift, endpoints=endpoints)

    def _drift(
        self, spec: EnvSpec, cluster: Obj | None, kc: Obj | None, expected_ready: bool
    ) -> list[str]:
        found: list[str] = []
        now = self._clock.now()
        pairs = ((self.cluster_resource.kind, cluster, kc), (KOMMANDER_CLUSTER.kind, kc, cluster))
        for kind, obj, other in pairs:
            if obj is None and other is not None:
                born = _created(other)
                if expected_ready or (born is not None and now - born > self._grace):
                    found.append(f"{kind} {spec.namespace}/{spec.name} is missing")
            elif obj is not None:
                wrong = lbl.mismatches(obj, env_labels(spec), {lbl.OWNER_EMAIL: spec.owner_email})
                found.extend(f"{kind} {spec.name}: {text}" for text in wrong)
        return found

    def delete(self, spec: EnvSpec) -> None:
        """Detach (delete the KommanderCluster), then delete the Cluster; absent ones are fine,
        and ones that are not this environment's are left alone.

        Each is read, its owner checked, and exactly that object deleted (preconditions), with
        foreground propagation, so observe() reports DELETING until CAPI has removed the
        machines and the objects are gone.
        """
        owner = env_owner(spec)
        self._kube.delete_owned(KOMMANDER_CLUSTER, spec.name, spec.namespace, owner)
        self._kube.delete_owned(self.cluster_resource, spec.name, spec.namespace, owner)
        self.delete_leftovers(spec)

    def delete_leftovers(self, spec: EnvSpec) -> None:
        """Once the Cluster is gone, delete what else this environment's template made and is
        still there (owner-checked, with preconditions).

        Real Cluster API removes most of them through ownerReferences; a create that failed
        half-way, or a template object no controller adopted, has none. While the Cluster
        exists nothing is touched: CAPI orders the teardown.
        """
        owner = env_owner(spec)
        if lbl.owned(self._kube.get(self.cluster_resource, spec.name, spec.namespace), owner):
            return
        for res, obj in self._leftover_objects(spec):
            self._kube.delete_owned(res, lbl.meta(obj)["name"], spec.namespace, owner)

    def _leftovers(self, spec: EnvSpec) -> list[str]:
        return [
            f"{res.kind} {spec.namespace}/{lbl.meta(obj)['name']} is still there"
            for res, obj in self._leftover_objects(spec)
        ]

    def _leftover_objects(self, spec: EnvSpec) -> list[tuple[Resource, Obj]]:
        """The objects other than the Cluster that the template renders and that still exist
        with this environment's owner labels (one list call per kind)."""
        if spec.manifests is None:
            return []
        owner = env_owner(spec)
        rendered = tpl.render_manifests(spec, env_labels(spec), env_annotations(spec))
        kinds = dict.fromkeys(res for res, _ in rendered if res.plural != "clusters")
        selector = f"{lbl.ENV_ID}={lbl.label_value(spec.env_id)}"
        return [
            (res, obj)
            for res in kinds
            for obj in self._kube.list(res, selector, spec.namespace)
            if lbl.owned(obj, owner) is not None
        ]
