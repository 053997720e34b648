"""User names keep the email as the IdP gives it: the Slack profile email reaches the Kubernetes
subjects unchanged, unless `identity.lowercase_email` says the IdP lower-cases it. Matching
principals by email stays case-insensitive."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.access.spec import grant_spec
from bot.db.models import AccessRequest, Environment
from bot.demo.fake_slack import DEFAULT_TOKEN, FakeSlack
from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.environments.spec import env_spec
from bot.policy import Identity, Policy, load_policy, parse_principal
from bot.slack.directory import SlackDirectory
from provisioning.kube.client import KubeClients
from provisioning.kube.rbac import RbacAccessBackend

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RBAC = ("rbac.authorization.k8s.io", "v1")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def lowercasing(policy: Policy) -> Policy:
    return policy.model_copy(update={"identity": Identity(lowercase_email=True)})


def environment(email: str) -> Environment:
    return Environment(
        id="e1",
        name="dana-dev",
        workspace="team-a",
        template="dev",
        kind="namespace",
        backend="namespace",
        owner_id="U0DANA",
        owner_email=email,
        created_by="U0DANA",
        state="READY",
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW + timedelta(days=1),
    )


def request(subject: str) -> AccessRequest:
    return AccessRequest(
        id="g1",
        requester_id="U0DANA",
        subject=subject,
        workspace="team-a",
        role="edit",
        backend="rbac",
        duration_s=3600,
        reason="debug",
        state="ACTIVE",
        created_at=NOW,
        updated_at=NOW,
        pending_until=NOW,
        expires_at=NOW + timedelta(hours=1),
    )


def test_directory_keeps_the_profile_email_and_matches_principals_ignoring_case(slack):
    # setup
    slack.add_user("dana", email="Dana.Ng@Example.com")
    directory = SlackDirectory(WebClient(token=DEFAULT_TOKEN, base_url=slack.api_url))

    # execution
    user = directory.user("U0DANA")
    members = directory.members([parse_principal("dana.ng@example.com")])

    # validating
    assert user.email == "Dana.Ng@Example.com"
    assert members == frozenset({"U0DANA"})


def test_subjects_keep_case_by_default_and_lowercase_when_the_policy_says():
    # setup
    policy = load_policy(EXAMPLE)

    # execution
    kept = (
        env_spec(environment("Dana.Ng@Example.com"), policy),
        grant_spec(request("Dana.Ng@Example.com"), policy),
    )
    lowered = (
        env_spec(environment("Dana.Ng@Example.com"), lowercasing(policy)),
        grant_spec(request("Dana.Ng@Example.com"), lowercasing(policy)),
    )

    # validating
    assert policy.identity.lowercase_email is False
    assert (kept[0].owner_email, kept[1].subject) == ("Dana.Ng@Example.com", "Dana.Ng@Example.com")
    assert (lowered[0].owner_email, lowered[1].subject) == (
        "dana.ng@example.com",
        "dana.ng@example.com",
    )


def test_a_grant_made_with_a_lowercased_subject_is_still_revoked(tmp_path):
    # setup: a grant from before this change, its row holding the lower-cased email
    policy = load_policy(EXAMPLE)
    with FakeKubeApiServer() as kube:
        kube.put_object("", "v1", "namespaces", {"metadata": {"name": "team-a"}})
        config = kube.write_kubeconfig(tmp_path / "kubeconfig", context="shared")
        backend = RbacAccessBackend(
            KubeClients(str(config), "shared", clusters={"shared-dev": "shared"})
        )
        old = grant_spec(request("dana.ng@example.com"), policy, "inst-a")
        backend.grant(old)

        # execution: today's code builds the spec from the same row, and revokes
        again = grant_spec(request("dana.ng@example.com"), policy, "inst-a")
        drift = backend.drifted([again])
        backend.revoke(again)

        # validating: same subject, no drift, and the binding is gone
        assert again.subject == old.subject
        assert drift == {}
        assert kube.get_object(*RBAC, "rolebindings", "team-a", "envbot-g1") is None
