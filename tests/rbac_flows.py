"""Every flow envbot runs with its own identity on a Kubernetes cluster, as a function of a
`World` (the fake API servers, RBAC-enforcing, and the real `kubernetes` client). Each flow also
checks it did what it is for, so a flow that silently does nothing cannot pass as coverage.

The test driving these (tests/integration/test_rbac_coverage.py) records what each flow was
allowed to do and compares it with what deploy/rbac.yaml and deploy/target-cluster/rbac.yaml grant.
Objects made with `put_object`/`set_status`/`mutate` stand for other actors (CAPI, Kommander, an
operator) and bypass RBAC; everything envbot does goes through the backends.
"""

from __future__ import annotations

import pytest

from bot.db import migrate
from bot.demo.fake_slack import FakeSlack
from bot.doctor import run_checks
from tests import rbac_flows_management as mgmt
from tests import rbac_flows_target as tgt
from tests.fakes.moto_server import moto_server
from tests.rbac_flows_management import seed_management
from tests.rbac_world import (
    MANAGEMENT,
    ROOT,
    TARGET,
    Flow,
    World,
)

# ---- envbot doctor (both clusters) --------------------------------------------------------


def doctor(world: World) -> None:
    """`envbot doctor` with examples/policy.yaml: it lists Clusters and MachineDeployments in
    every kommander workspace namespace, and reads each target cluster's /version (a
    non-resource URL every authenticated user may GET through the default
    system:public-info-viewer binding, so no envbot rule is involved). Its AWS check asks moto."""
    with (
        FakeSlack() as slack,
        pytest.MonkeyPatch.context() as env,
        moto_server(env, world.tmp) as aws,
    ):
        url = f"sqlite:///{world.tmp}/doctor.db"
        migrate.upgrade(url, install_id="inst-a")
        for key, value in {
            "ENVBOT_SLACK__BOT_TOKEN": slack.token,
            "ENVBOT_SLACK__SIGNING_SECRET": "s",
            "ENVBOT_SLACK__API_URL": slack.api_url,
            "ENVBOT_DATABASE_URL": url,
            "ENVBOT_POLICY_FILE": str(ROOT / "examples" / "policy.yaml"),
            "ENVBOT_KUBECONFIG": world.kubeconfig,
            "ENVBOT_KUBE_CONTEXT": "fake",
            "AWS_ENDPOINT_URL": aws,  # boto3's own setting
        }.items():
            env.setenv(key, value)
        world.target.clear_requests()
        checks = {c.name: c for c in run_checks()}
    assert all(c.ok for c in checks.values()), checks
    assert [(r.method, r.path) for r in world.target.requests] == [("GET", "/version/")]
    assert checks["kubernetes"].detail.endswith("in sandbox (sandbox), production (production)")


FLOWS = (
    Flow("capi create, observe to READY", (MANAGEMENT,), mgmt.capi_create_observe),
    Flow("capi extend", (MANAGEMENT,), mgmt.capi_extend),
    Flow("capi transfer", (MANAGEMENT,), mgmt.capi_transfer),
    Flow("capi drift re-apply", (MANAGEMENT,), mgmt.capi_drift_reapply),
    Flow("capi delete until gone", (MANAGEMENT,), mgmt.capi_delete),
    Flow("capi adopt from before install ids", (MANAGEMENT,), mgmt.capi_adopt_legacy),
    Flow(
        "capi manifests create, extend, transfer, delete",
        (MANAGEMENT,),
        mgmt.capi_manifests_lifecycle,
    ),
    Flow(
        "capi manifests adopt from before install ids",
        (MANAGEMENT,),
        mgmt.capi_manifests_adopt_legacy,
    ),
    Flow(
        "kommander grant, drift, re-apply, revoke", (MANAGEMENT,), mgmt.kommander_grant_drift_revoke
    ),
    Flow("kommander adopt from before install ids", (MANAGEMENT,), mgmt.kommander_adopt_legacy),
    Flow("namespace create, observe", (TARGET,), tgt.namespace_create_observe),
    Flow("namespace with role admin", (TARGET,), tgt.namespace_admin_role),
    Flow("namespace extend, transfer", (TARGET,), tgt.namespace_extend_transfer),
    Flow("namespace drift re-apply", (TARGET,), tgt.namespace_drift_reapply),
    Flow("namespace delete until gone", (TARGET,), tgt.namespace_delete),
    Flow("namespace adopt from before install ids", (TARGET,), tgt.namespace_adopt_legacy),
    Flow("rbac RoleBinding grant, drift, re-apply, revoke", (TARGET,), tgt.rbac_namespaced),
    Flow(
        "rbac ClusterRoleBinding grant, drift, re-apply, revoke", (TARGET,), tgt.rbac_cluster_wide
    ),
    Flow("rbac adopt from before install ids", (TARGET,), tgt.rbac_adopt_legacy),
    Flow("envbot doctor", (MANAGEMENT, TARGET), doctor),
)


__all__ = ["FLOWS", "MANAGEMENT", "TARGET", "Flow", "World", "seed_management"]
