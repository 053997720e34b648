"""The READY DM's kubectl commands, pasted as a user would, give a kubeconfig that loads right.

Real backends on the fake API server bring a cluster and a namespace environment to READY; the
commands in the DM's code block run in bash against a temporary KUBECONFIG; the result is read
back with `kubectl config view --raw` and with the `kubernetes` client's loader, whose exec
provider runs a recording stand-in for kubelogin (`kubectl-oidc_login` on PATH, dispatched by
the real kubectl), so the arguments kubelogin would get are checked, not just the YAML.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as kclient
from kubernetes import config as kconfig

from bot.demo.fake_slack import FakeSlack
from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.tls import self_signed_certificate
from bot.domain.clock import ManualClock
from bot.policy import Policy, validate_policy
from bot.wiring import Runtime
from provisioning.base import EnvironmentBackend
from provisioning.kube.client import NAMESPACE, KubeClients
from provisioning.registry import build_environment_backends
from tests import capi_stages as st
from tests.scenario.conftest import POLICY_PATH, SlackClient

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")

CAPI = ("cluster.x-k8s.io", "v1beta1", "clusters")
KOM = ("kommander.mesosphere.io", "v1beta1", "kommanderclusters")
MDS = ("cluster.x-k8s.io", "v1beta1", "machinedeployments")
ISSUER = "https://management.example.com/dex"
SCOPES = ["email", "groups", "offline_access", "audience:server:client_id:kube-apiserver"]
GET_TOKEN = [
    "get-token",
    f"--oidc-issuer-url={ISSUER}",
    "--oidc-client-id=kubelogin",
    *(f"--oidc-extra-scope={s}" for s in SCOPES),
]
INGRESS_CA, _ = self_signed_certificate()
SHARED_DEV_CA, _ = self_signed_certificate()
# kubelogin's stand-in: records its arguments, answers as kubelogin does (ExecCredential v1)
PLUGIN = """#!/bin/sh
printf '%s\\n' "$@" > "$(dirname "$0")/args"
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",\
"status":{"token":"token-from-dex"}}'
"""


def _real_kubectl() -> Path:
    """kubectl itself: Google Cloud SDK's dispatcher in front of it asks the current context's
    server for its version first (and so hangs on a server that does not answer); its
    versioned siblings are plain kubectl."""
    found = Path(shutil.which("kubectl") or "kubectl").resolve()
    versioned = sorted(
        found.parent.glob("kubectl.1.*"), key=lambda p: int(p.name.rsplit(".", 1)[1])
    )
    return versioned[-1] if versioned else found


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's home: ~/bin first on PATH with kubectl and kubelogin's stand-in in it."""
    bin_dir = tmp_path / "home" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "kubectl").symlink_to(_real_kubectl())
    plugin = bin_dir / "kubectl-oidc_login"
    plugin.write_text(PLUGIN, encoding="utf-8")
    plugin.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir.parent


@pytest.fixture
def policy() -> Policy:
    """The example policy, with a CA for the shared-dev cluster."""
    data = yaml.safe_load(POLICY_PATH.read_text(encoding="utf-8"))
    data["clusters"]["shared-dev"]["ca"] = SHARED_DEV_CA.decode()
    return validate_policy(data, policy_dir=POLICY_PATH.parent)


@pytest.fixture
def kube() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def clients(kube: FakeKubeApiServer, tmp_path: Path, policy: Policy) -> Iterator[KubeClients]:
    path = kube.write_kubeconfig(
        tmp_path / "bot-kubeconfig", "mgmt", [c.context for c in policy.clusters.values()]
    )
    kc = KubeClients(str(path), "mgmt", {n: c.context for n, c in policy.clusters.items()})
    kc.management().create(
        NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sandbox"}}
    )
    yield kc
    kc.close()


@pytest.fixture
def env_backends(clients: KubeClients, clock: ManualClock) -> dict[str, EnvironmentBackend]:
    return build_environment_backends(clock, clients)


def _jobs(runtime: Runtime, clock: ManualClock) -> None:
    for _ in range(3):
        runtime.jobs.advance(clock, timedelta(seconds=30))


def _access_dm(fake_slack: FakeSlack, user: str, env_name: str) -> list[dict[str, Any]]:
    uid = fake_slack.user_id(user)
    found = [
        m.blocks
        for m in fake_slack.visible_messages(uid)
        if m.dm_user == uid and m.text == f"Access instructions for {env_name}"
    ]
    assert len(found) == 1, [m.text for m in fake_slack.visible_messages(uid)]
    return found[0]


def _paste(blocks: list[dict[str, Any]], home: Path) -> Path:
    """Run the code block's commands in bash as the user would; return the kubeconfig."""
    (code,) = [b["text"] for b in blocks if b["type"] == "markdown"]
    match = re.fullmatch(r"```\n(.*)\n```", code, re.DOTALL)
    assert match is not None, code
    kubeconfig = home / ".kube" / "config"
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", match[1]],
        env=env,
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    return kubeconfig


def _view(kubeconfig: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["kubectl", "config", "view", "--raw", "-o", "json"],
        env={"PATH": os.environ["PATH"], "KUBECONFIG": str(kubeconfig)},
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    view: dict[str, Any] = json.loads(out.stdout)
    return view


def _load_with_client(kubeconfig: Path, home: Path) -> tuple[Any, list[str]]:
    """The kubernetes client's loader on the kubeconfig, its exec running the stand-in."""
    cfg = kclient.Configuration()
    kconfig.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig),
        client_configuration=cfg,
        persist_config=False,
        temp_file_path=str(home),
    )
    recorded = (home / "bin" / "args").read_text(encoding="utf-8").splitlines()
    return cfg, recorded


def _exec_user(view: dict[str, Any], name: str) -> dict[str, Any]:
    (user,) = [u["user"] for u in view["users"] if u["name"] == name]
    exec_: dict[str, Any] = user["exec"]
    assert set(user) == {"exec"}  # no token, no client certificate, no secret
    return exec_


def test_cluster_dm_builds_a_kubeconfig_for_the_proxy_with_the_ingress_ca(
    slack_http: SlackClient,
    runtime: Runtime,
    kube: FakeKubeApiServer,
    clock: ManualClock,
    fake_slack: FakeSlack,
    home: Path,
) -> None:
    # setup: CAPI brings the cluster and its workers up; Kommander publishes address and CA
    slack_http.ask("alice", "/env", "create sandbox capi-one")
    _jobs(runtime, clock)
    for condition in ("InfrastructureReady", "ControlPlaneReady", "Ready"):
        kube.set_condition(*CAPI, "sandbox", "capi-one", condition, "True", reason="Ready")
    # the template's MachineDeployment (envbot created it) gets its 2 of 2 workers: READY needs them
    status = st.md_status("v1beta1", "workers_2", cluster="capi-one")
    kube.set_status(
        "cluster.x-k8s.io", "v1beta1", "machinedeployments", "sandbox", "capi-one-md-0", status
    )
    bundle = base64.b64encode(INGRESS_CA).decode()
    ingress = {"address": "a1b2.elb.amazonaws.com", "caBundle": bundle}
    kube.set_status(*KOM, "sandbox", "capi-one", {"phase": "Joined", "ingress": ingress})
    _jobs(runtime, clock)

    # execution: paste the DM's commands
    kubeconfig = _paste(_access_dm(fake_slack, "alice", "capi-one"), home)
    view = _view(kubeconfig)
    cfg, recorded = _load_with_client(kubeconfig, home)

    # validating: kubectl's view
    assert view["current-context"] == "capi-one"
    (cluster,) = view["clusters"]
    assert cluster["cluster"]["server"] == "https://a1b2.elb.amazonaws.com/dkp/api-server"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == INGRESS_CA
    (context,) = view["contexts"]
    assert context["context"] == {"cluster": "capi-one", "user": "oidc-capi-one"}
    exec_ = _exec_user(view, "oidc-capi-one")
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1"
    assert exec_["interactiveMode"] == "Never"
    assert exec_["command"] == "kubectl"
    assert exec_["args"] == ["oidc-login", *GET_TOKEN]
    # validating: the kubernetes client's view, and what kubelogin would have been given
    assert cfg.host == "https://a1b2.elb.amazonaws.com/dkp/api-server"
    assert Path(cfg.ssl_ca_cert).read_bytes() == INGRESS_CA
    assert cfg.api_key["BearerToken"] == "Bearer token-from-dex"
    assert recorded == GET_TOKEN


def test_namespace_dm_builds_a_kubeconfig_for_the_policy_cluster_and_namespace(
    slack_http: SlackClient,
    runtime: Runtime,
    clock: ManualClock,
    fake_slack: FakeSlack,
    home: Path,
) -> None:
    # setup
    slack_http.ask("alice", "/env", "create dev alice-ns")
    _jobs(runtime, clock)

    # execution
    kubeconfig = _paste(_access_dm(fake_slack, "alice", "alice-ns"), home)
    view = _view(kubeconfig)
    cfg, recorded = _load_with_client(kubeconfig, home)

    # validating: the server and CA of clusters.shared-dev, the environment's namespace
    (cluster,) = view["clusters"]
    assert cluster["cluster"]["server"] == "https://shared-dev.example.com/dkp/api-server"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == SHARED_DEV_CA
    (context,) = view["contexts"]
    assert context["context"] == {
        "cluster": "alice-ns",
        "user": "oidc-alice-ns",
        "namespace": "alice-ns",
    }
    assert _exec_user(view, "oidc-alice-ns")["args"] == ["oidc-login", *GET_TOKEN]
    assert cfg.host == "https://shared-dev.example.com/dkp/api-server"
    assert Path(cfg.ssl_ca_cert).read_bytes() == SHARED_DEV_CA
    assert recorded == GET_TOKEN
