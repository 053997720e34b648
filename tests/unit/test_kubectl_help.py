"""kubectl instructions: what the DMs carry with and without a kubelogin client, and the
KommanderCluster ingress read into endpoints (server, CA)."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.access.render import grant_instructions
from bot.db.models import AccessRequest, Environment
from bot.demo.fake_slack_blocks import validate_message_blocks
from bot.demo.kube.tls import self_signed_certificate
from bot.environments.render import access_instructions, env_details
from bot.policy import Policy, validate_policy
from bot.slack.blocks import message
from provisioning.kube.ingress import kommander_endpoints

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CA, _ = self_signed_certificate()
CA_DATA = base64.b64encode(CA).decode()


def _policy(*, kubelogin: bool = True, ca: str | None = None) -> Policy:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    if not kubelogin:
        del data["management"]["oidc"]["kubelogin_client_id"]
    if ca is not None:
        data["clusters"]["shared-dev"]["ca"] = ca
    return validate_policy(data, policy_dir=EXAMPLE.parent)


def _env(kind: str = "cluster", endpoints: dict[str, str] | None = None) -> Environment:
    return Environment(
        id="eabcde",
        name="env-one",
        workspace="sandbox" if kind == "cluster" else "team-a",
        template="sandbox" if kind == "cluster" else "dev",
        kind=kind,
        backend="fake",
        owner_id="U0ALICE",
        owner_email="alice@example.com",
        created_by="U0ALICE",
        reason="",
        state="READY",
        phase="ready",
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW + timedelta(days=3),
        failure="",
        decided_by="",
        endpoints=endpoints if endpoints is not None else {},
        attempts=0,
        version=1,
    )


def _grant(workspace: str) -> AccessRequest:
    return AccessRequest(
        id="rabcde",
        requester_id="U0ALICE",
        subject="alice@example.com",
        workspace=workspace,
        role="edit" if workspace == "team-a" else "admin",
        backend="rbac" if workspace == "team-a" else "kommander",
        duration_s=7200,
        reason="",
        state="ACTIVE",
        created_at=NOW,
        updated_at=NOW,
        pending_until=NOW,
        attempts=0,
        version=1,
    )


def _code(blocks: list[dict[str, Any]]) -> str:
    (code,) = [b["text"] for b in blocks if b["type"] == "markdown"]
    return str(code)


def _all_text(blocks: list[dict[str, Any]]) -> str:
    """Sections' mrkdwn text and markdown blocks' text, one block a line."""
    texts = [b["text"] if isinstance(b["text"], str) else b["text"]["text"] for b in blocks]
    return "\n".join(texts)


SERVER = {"api_server": "https://lb.example/dkp/api-server", "ca_data": CA_DATA}


# --- the environment DM -------------------------------------------------------------------------


def test_without_a_kubelogin_client_the_dm_gives_the_token_page_only() -> None:
    msg = access_instructions(_env(endpoints=SERVER), _policy(kubelogin=False))

    text = _all_text(msg["blocks"])
    assert [b["type"] for b in msg["blocks"]] == ["section"]
    assert "https://management.example.com/token" in text
    assert "oidc-login" not in text
    assert "kube-apiserver" not in text
    assert CA_DATA not in text


def test_a_cluster_whose_address_is_not_known_yet_gets_the_token_page() -> None:
    msg = access_instructions(_env(endpoints={}), _policy())

    assert [b["type"] for b in msg["blocks"]] == ["section"]
    assert "https://management.example.com/token" in _all_text(msg["blocks"])


def test_the_commands_carry_server_ca_and_the_audience_scope_and_pass_slack_limits() -> None:
    msg = access_instructions(_env(endpoints=SERVER), _policy())

    code = _code(msg["blocks"])
    assert "--server=https://lb.example/dkp/api-server" in code
    assert f"kubectl config set clusters.env-one.certificate-authority-data {CA_DATA}" in code
    assert "--exec-arg=--oidc-client-id=kubelogin" in code
    assert "--exec-arg=--oidc-extra-scope=audience:server:client_id:kube-apiserver" in code
    assert "--exec-arg=--oidc-extra-scope=offline_access" in code
    assert "system's CAs" not in _all_text(msg["blocks"])
    assert validate_message_blocks(msg["blocks"]) == []


def test_a_namespace_without_a_ca_says_kubectl_uses_the_system_cas() -> None:
    msg = access_instructions(_env("namespace"), _policy())

    code = _code(msg["blocks"])
    assert "--server=https://shared-dev.example.com/dkp/api-server" in code
    assert "certificate-authority-data" not in code
    assert "--namespace=env-one" in code
    assert "kubectl trusts your system's CAs" in _all_text(msg["blocks"])


def test_a_ca_bundle_too_long_for_slack_is_left_out_with_a_pointer() -> None:
    # setup: a bundle of many certificates, over Slack's 12,000 characters of markdown
    bundle = base64.b64encode(CA * 20).decode()
    endpoints = {"api_server": "https://lb.example/dkp/api-server", "ca_data": bundle}

    # execution
    msg = access_instructions(_env(endpoints=endpoints), _policy())

    # validating
    code = _code(msg["blocks"])
    assert "certificate-authority-data" not in code
    assert "too long for Slack" in _all_text(msg["blocks"])
    assert validate_message_blocks(msg["blocks"]) == []


def test_env_show_does_not_print_the_ca_bundle() -> None:
    lines = env_details(_env(endpoints=SERVER), NOW)

    assert "api_server: https://lb.example/dkp/api-server" in lines
    assert f"ca_data: ({len(CA_DATA)} characters, in /env access)" in lines
    assert not any(CA_DATA in line for line in lines)


# --- the grant DM -------------------------------------------------------------------------------


def test_an_rbac_grant_on_a_policy_cluster_gets_the_full_setup() -> None:
    pem = CA.decode()
    blocks = grant_instructions(_grant("team-a"), _policy(ca=pem), "Approved.")

    code = _code([b.to_dict() for b in blocks])
    assert "--server=https://shared-dev.example.com/dkp/api-server" in code
    assert CA_DATA in code
    assert "--namespace=team-a" in code
    assert validate_message_blocks(message("x", blocks)["blocks"]) == []


def test_a_kommander_grant_gets_the_kubelogin_user_and_the_token_page() -> None:
    blocks = [b.to_dict() for b in grant_instructions(_grant("sandbox"), _policy(), "Approved.")]

    code = _code(blocks)
    assert code.startswith("```\nkubectl config set-credentials oidc-sandbox ")
    assert "set-cluster" not in code
    assert "https://management.example.com/token" in _all_text(blocks)


def test_a_grant_without_a_kubelogin_client_gets_the_token_page_only() -> None:
    policy = _policy(kubelogin=False)
    for workspace in ("sandbox", "team-a"):
        blocks = [b.to_dict() for b in grant_instructions(_grant(workspace), policy, "Approved.")]
        assert [b["type"] for b in blocks] == ["section"]
        assert "oidc-login" not in _all_text(blocks)


# --- the KommanderCluster ingress -----------------------------------------------------------------


def _kc(ingress: dict[str, Any] | None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Joined"}
    if ingress is not None:
        status["ingress"] = ingress
    return {"metadata": {"name": "c1", "namespace": "ws"}, "status": status}


def test_no_address_no_endpoints() -> None:
    assert kommander_endpoints(None) == {}
    assert kommander_endpoints(_kc(None)) == {}
    assert kommander_endpoints(_kc({"caBundle": CA_DATA})) == {}


def test_address_and_ca_bundle_become_server_and_ca_data() -> None:
    # caBundle as it comes over the wire may be wrapped; kubeconfig wants one line
    wrapped = "\n".join(CA_DATA[i : i + 64] for i in range(0, len(CA_DATA), 64))

    endpoints = kommander_endpoints(_kc({"address": "https://lb.example/", "caBundle": wrapped}))

    assert endpoints == {"api_server": "https://lb.example/dkp/api-server", "ca_data": CA_DATA}


def test_a_ca_bundle_that_is_not_base64_pem_is_left_out_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="provisioning.kube.ingress")
    not_pem = base64.b64encode(b"hello").decode()

    for bundle in ("%%%", not_pem, CA.decode()):
        endpoints = kommander_endpoints(_kc({"address": "10.0.0.5", "caBundle": bundle}))
        assert endpoints == {"api_server": "https://10.0.0.5/dkp/api-server"}
    assert len([r for r in caplog.records if "caBundle" in r.getMessage()]) == 3
