"""The shipped RBAC covers every call envbot makes, and nothing more.

Every flow of tests/rbac_flows.py runs once, with the real `kubernetes` client, against fake API
servers that enforce deploy/rbac.yaml (the management cluster) and
deploy/target-cluster/rbac.yaml (a target cluster). Each flow must meet no 403 and do what it is
for; together, the flows must use every (apiGroup, resource, verb) and every `bind` resourceName
those manifests grant, in every namespace a RoleBinding grants them in.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.authz import Access, Attributes, Authorizer, Bound
from provisioning.kube.client import KubeClients
from tests import rbac_grants
from tests.integration.test_kube_rbac import MANAGEMENT_RBAC, TARGET_RBAC, serve
from tests.rbac_flows import FLOWS, MANAGEMENT, TARGET, Flow, World, seed_management

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = {MANAGEMENT: MANAGEMENT_RBAC, TARGET: TARGET_RBAC}


@dataclass
class Run:
    """What one flow was allowed and refused on each cluster, and how it ended."""

    used: dict[str, set[Access]] = field(default_factory=dict)
    bound: dict[str, set[Bound]] = field(default_factory=dict)
    denied: dict[str, list[Attributes]] = field(default_factory=dict)
    error: Exception | None = None


CONTEXTS = {MANAGEMENT: "fake", TARGET: "shared-dev"}
NOWHERE = "http://127.0.0.1:9"  # discard port: a flow calling a cluster it does not name fails


def nowhere(context: str) -> dict[str, Any]:
    return {
        "clusters": [{"name": context, "cluster": {"server": NOWHERE}}],
        "users": [{"name": f"{context}-user", "user": {"token": "none"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-user"}}],
    }


def kubeconfig(path: Path, servers: dict[str, FakeKubeApiServer]) -> Path:
    """Both contexts; one for a cluster without a server points where nothing answers."""
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "current-context": "fake"}
    for cluster, context in CONTEXTS.items():
        server = servers.get(cluster)
        one = server.kubeconfig(context) if server else nowhere(context)
        for key in ("clusters", "users", "contexts"):
            merged.setdefault(key, []).extend(one[key])
    path.write_text(yaml.safe_dump(merged), encoding="utf-8")
    return path


def run_flow(flow: Flow, tmp: Path) -> Run:
    """Run `flow` on fresh servers enforcing the shipped manifests; never raises."""
    run = Run()
    with ExitStack() as stack:
        servers = {
            c: stack.enter_context(serve(Authorizer.from_manifests(MANIFESTS[c])))
            for c in flow.clusters
        }
        if MANAGEMENT in servers:
            seed_management(servers[MANAGEMENT])
        config = kubeconfig(tmp / "kubeconfig", servers)
        clients = KubeClients(str(config), "fake", clusters={"shared": "shared-dev"})
        try:
            flow.run(World(servers, clients, str(config), tmp))
        except Exception as exc:  # noqa: BLE001 - re-raised by the flow's own test
            run.error = exc
        finally:
            clients.close()
        for name, server in servers.items():
            authorizer = server.authorizer
            assert authorizer is not None
            run.used[name] = authorizer.used
            run.bound[name] = authorizer.bound
            run.denied[name] = authorizer.denied
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every flow, run once for all the tests of this module."""
    return {f.name: run_flow(f, tmp_path_factory.mktemp("flow")) for f in FLOWS}


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_flow_runs_under_the_shipped_rbac(runs: dict[str, Run], flow: Flow) -> None:
    run = runs[flow.name]
    if run.error is not None:
        raise run.error
    assert run.denied == {cluster: [] for cluster in flow.clusters}


@pytest.mark.parametrize("cluster", [MANAGEMENT, TARGET])
def test_every_shipped_grant_is_used_by_a_flow(
    runs: dict[str, Run], cluster: str, figure: Callable[[str], None]
) -> None:
    # setup
    failed = [name for name, run in runs.items() if run.error is not None]
    assert not failed, f"coverage needs every flow to finish; these failed: {failed}"
    shipped = rbac_grants.load(MANIFESTS[cluster])
    used, bound = all_used(runs, cluster)

    # execution
    unused = rbac_grants.unused(shipped, used, bound)
    idle = rbac_grants.idle_bindings(shipped, used)

    # validating
    flows = sum(1 for f in FLOWS if cluster in f.clusters)
    figure(
        f"{MANIFESTS[cluster].relative_to(ROOT)}: {len(shipped.grants)} grants, "
        f"{len(used)} distinct accesses by {flows} flows, {len(unused)} grants unused"
    )
    assert shipped.wildcards == (), f"{MANIFESTS[cluster].name} grants wildcards"
    assert not unused, f"{MANIFESTS[cluster]} grants what no flow uses:\n" + "\n".join(
        map(str, unused)
    )
    assert not idle, f"RoleBindings in namespaces no flow touches: {idle}"


# ---- the coverage check can fail ---------------------------------------------------------


def edited(
    path: Path, role: str, *rules: dict[str, object], **extra_docs: str
) -> rbac_grants.Shipped:
    """The manifest at `path` with `rules` added to `role`, and a RoleBinding of the workspace
    role in each namespace named by `extra_docs` (binding name -> namespace)."""
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "Role") and doc["metadata"]["name"] == role:
            doc["rules"].extend(rules)
    template = next((d for d in docs if d["kind"] == "RoleBinding"), None)
    for name, namespace in extra_docs.items():
        assert template is not None
        docs.append({**template, "metadata": {"name": name, "namespace": namespace}})
    return rbac_grants.shipped(docs)


def all_used(runs: dict[str, Run], cluster: str) -> tuple[set[Access], set[Bound]]:
    """What every flow together was allowed on `cluster`: accesses, and roles bound by `bind`."""
    return (
        {a for run in runs.values() for a in run.used.get(cluster, set())},
        {b for run in runs.values() for b in run.bound.get(cluster, set())},
    )


def test_a_rule_no_flow_uses_is_listed(runs: dict[str, Run]) -> None:
    # setup: watch on clusters (the code polls), get on secrets, bind on cluster-admin
    mgmt = edited(
        MANAGEMENT_RBAC,
        "envbot-workspace",
        {"apiGroups": ["cluster.x-k8s.io"], "resources": ["clusters"], "verbs": ["watch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    )
    target = edited(
        TARGET_RBAC,
        "envbot-namespaces",
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "resourceNames": ["cluster-admin"],
            "verbs": ["bind"],
        },
    )

    # execution: what the additions leave unused beyond what the shipped manifests do
    mgmt_unused = sorted(
        set(rbac_grants.unused(mgmt, *all_used(runs, MANAGEMENT)))
        - set(rbac_grants.unused(rbac_grants.load(MANAGEMENT_RBAC), *all_used(runs, MANAGEMENT)))
    )
    target_unused = sorted(
        set(rbac_grants.unused(target, *all_used(runs, TARGET)))
        - set(rbac_grants.unused(rbac_grants.load(TARGET_RBAC), *all_used(runs, TARGET)))
    )

    # validating
    assert [str(g) for g in mgmt_unused] == [
        "ClusterRole/envbot-workspace: get secrets (core)",
        "ClusterRole/envbot-workspace: watch clusters (cluster.x-k8s.io)",
    ]
    assert [str(g) for g in target_unused] == [
        "ClusterRole/envbot-namespaces: bind clusterroles cluster-admin (rbac.authorization.k8s.io)"
    ]


def test_wildcards_are_reported_not_expanded() -> None:
    shipped = edited(
        TARGET_RBAC,
        "envbot-namespaces",
        {"apiGroups": [""], "resources": ["*"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["*/status"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
    )
    assert len(shipped.wildcards) == 3
    assert not any(g.resource in ("*", "*/status") or g.verb == "*" for g in shipped.grants)


def test_a_grant_counts_only_where_its_role_is_bound(runs: dict[str, Run]) -> None:
    # setup: the KommanderCluster calls as if made in team-a, where no RoleBinding grants them
    used, bound = all_used(runs, MANAGEMENT)
    moved = {
        Access(a.verb, a.group, a.resource, a.subresource, "team-a")
        if a.resource == "kommanderclusters"
        else a
        for a in used
    }

    # execution
    unused = rbac_grants.unused(rbac_grants.load(MANAGEMENT_RBAC), moved, bound)

    # validating
    assert {(g.resource, g.verb) for g in unused if g.resource == "kommanderclusters"} == {
        ("kommanderclusters", verb) for verb in ("get", "list", "create", "patch", "delete")
    }


def test_a_binding_in_a_namespace_no_flow_touches_is_listed(runs: dict[str, Run]) -> None:
    shipped = edited(MANAGEMENT_RBAC, "envbot-workspace", extra="team-b")
    assert rbac_grants.idle_bindings(shipped, all_used(runs, MANAGEMENT)[0]) == ["team-b"]
