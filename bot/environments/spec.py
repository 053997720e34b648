"""The environments' backend port: what a backend is told about one environment."""

from __future__ import annotations

from bot.db.models import Environment
from bot.policy import ClusterManifests, ClusterRef, ClusterTopology, Policy, TopologyCluster
from provisioning.base import ClusterManifests as ManifestsSpec
from provisioning.base import ClusterTopology as TopologySpec
from provisioning.base import EnvSpec


def topology_spec(c: ClusterTopology) -> TopologySpec:
    """The backend's view of a policy `topology:`."""
    return TopologySpec(
        cluster_class=c.class_,
        version=c.version,
        control_plane_replicas=c.control_plane_replicas,
        worker_replicas=c.worker_replicas,
        variables=dict(c.variables),
        tags_variable=c.tags_variable or "",
        grace=c.grace,
    )


def env_spec(env: Environment, policy: Policy) -> EnvSpec:
    """The backend's view of an environment, from its row and its template."""
    template = policy.templates.get(env.template)
    workspace = policy.workspaces.get(env.workspace)
    topology = manifests = None
    cluster_ref = role = ""
    quota: dict[str, str] = {}
    if template is not None and isinstance(template.cluster, TopologyCluster):
        topology = topology_spec(template.cluster.topology)
    if template is not None and isinstance(template.cluster, ClusterManifests):
        m = template.cluster
        manifests = ManifestsSpec(source=m.manifests, text=m.text, variables=dict(m.variables))
    if template is not None and isinstance(template.cluster, ClusterRef):
        cluster_ref = template.cluster.ref
        role = template.namespace.role
        quota = dict(template.namespace.quota)
    namespace = (
        env.name
        if env.kind == "namespace"
        else ((workspace.namespace if workspace else None) or env.workspace)
    )
    return EnvSpec(
        env_id=env.id,
        name=env.name,
        workspace=env.workspace,
        namespace=namespace,
        template=env.template,
        owner_id=env.owner_id,
        owner_email=env.owner_email,
        expires_at=env.expires_at,
        topology=topology,
        manifests=manifests,
        cluster_ref=cluster_ref,
        role=role,
        quota=quota,
    )
