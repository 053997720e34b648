"""The environments' backend port: what a backend is told about one environment."""

from __future__ import annotations

from bot.db.models import Environment
from bot.policy import (
    ClusterManifests,
    ClusterRef,
    ClusterTopology,
    LimitRange,
    Policy,
    TopologyCluster,
)
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


def env_spec(env: Environment, policy: Policy, install_id: str = "") -> EnvSpec:
    """The backend's view of an environment, from its row, its template and this install."""
    template = policy.templates.get(env.template)
    workspace = policy.workspaces.get(env.workspace)
    topology = manifests = None
    cluster_ref = role = ""
    quota: dict[str, str] = {}
    limit_range: dict[str, dict[str, str]] = {}
    if template is not None and isinstance(template.cluster, TopologyCluster):
        topology = topology_spec(template.cluster.topology)
    if template is not None and isinstance(template.cluster, ClusterManifests):
        m = template.cluster
        manifests = ManifestsSpec(source=m.manifests, text=m.text, variables=dict(m.variables))
    if template is not None and isinstance(template.cluster, ClusterRef):
        cluster_ref = template.cluster.ref
        role = template.namespace.role
        quota = dict(template.namespace.quota)
        limit_range = limit_range_spec(template.namespace.limit_range)
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
        owner_email=policy.identity.subject(env.owner_email),
        expires_at=env.expires_at,
        topology=topology,
        manifests=manifests,
        cluster_ref=cluster_ref,
        role=role,
        quota=quota,
        limit_range=limit_range,
        install_id=install_id,
    )


def limit_range_spec(limits: LimitRange | None) -> dict[str, dict[str, str]]:
    """The policy's `limit_range` in LimitRange field names; empty when nothing is set."""
    if limits is None:
        return {}
    fields = {"default": dict(limits.default), "defaultRequest": dict(limits.default_request)}
    return {key: value for key, value in fields.items() if value}
