"""The target clusters' ValidatingAdmissionPolicy (deploy/target-cluster/admission): its CEL,
evaluated with cel-python against admission requests as the API server builds them, lets envbot
change and delete only what carries its ownership labels, and matches nobody else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.admission import AdmissionPolicy

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "deploy" / "target-cluster"
POLICY, BINDING = AdmissionPolicy.load(TARGET / "admission" / "policy.yaml")
ENVBOT = "system:serviceaccount:envbot:envbot"
OWNED_ENV = {"envbot.io/managed": "true", "envbot.io/env-id": "e1a2b3c4", "envbot.io/owner": "U1"}
OWNED_GRANT = {"envbot.io/managed": "true", "envbot.io/grant-id": "g9f8e7"}

KINDS = {  # resource -> (group, kind, namespaced)
    "namespaces": ("", "Namespace", False),
    "resourcequotas": ("", "ResourceQuota", True),
    "limitranges": ("", "LimitRange", True),
    "rolebindings": ("rbac.authorization.k8s.io", "RoleBinding", True),
    "clusterrolebindings": ("rbac.authorization.k8s.io", "ClusterRoleBinding", False),
}


def obj(resource: str, name: str, labels: dict[str, str] | None) -> dict[str, Any]:
    group, kind, namespaced = KINDS[resource]
    meta: dict[str, Any] = {"name": name, "uid": "u-1", "resourceVersion": "42"}
    if namespaced:
        meta["namespace"] = "team-a"
    if labels is not None:
        meta["labels"] = dict(labels)
    return {"apiVersion": f"{group + '/' if group else ''}v1", "kind": kind, "metadata": meta}


def request(
    operation: str,
    resource: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None = None,
    user: str = ENVBOT,
) -> dict[str, Any]:
    """An AdmissionRequest as the API server hands it to admission (object null on DELETE)."""
    group, kind, namespaced = KINDS[resource]
    some = old or new or {}
    return {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "requestKind": {"group": group, "version": "v1", "kind": kind},
        "name": some["metadata"]["name"],
        **({"namespace": "team-a"} if namespaced else {}),
        "operation": operation,
        "userInfo": {
            "username": user,
            "groups": ["system:serviceaccounts", "system:authenticated"],
        },
        "object": new,
        "oldObject": old,
        "dryRun": False,
    }


def test_every_expression_compiles() -> None:
    assert len(POLICY.expressions()) >= 6
    for expression in POLICY.expressions():
        POLICY.compile(expression)


def test_binding_denies_and_names_the_policy() -> None:
    assert POLICY.doc["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert BINDING["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert BINDING["spec"]["policyName"] == POLICY.doc["metadata"]["name"]
    assert "Deny" in BINDING["spec"]["validationActions"]
    assert "Warn" not in BINDING["spec"]["validationActions"]  # the API server refuses Deny+Warn
    assert POLICY.spec["failurePolicy"] == "Fail"


def test_matches_the_service_account_that_target_rbac_creates() -> None:
    docs = list(yaml.safe_load_all((TARGET / "rbac.yaml").read_text(encoding="utf-8")))
    sa = next(d for d in docs if d and d["kind"] == "ServiceAccount")
    username = f"system:serviceaccount:{sa['metadata']['namespace']}:{sa['metadata']['name']}"
    assert username == ENVBOT
    ns = obj("namespaces", "payments", None)
    assert POLICY.review(request("DELETE", "namespaces", ns, user=username)).matched


def test_covers_every_kind_envbot_may_change_or_delete_on_a_target_cluster() -> None:
    docs = list(yaml.safe_load_all((TARGET / "rbac.yaml").read_text(encoding="utf-8")))
    writes = {"update", "patch", "delete", "deletecollection", "*"}
    for doc in docs:
        if not doc or doc["kind"] not in ("ClusterRole", "Role"):
            continue
        for rule in doc["rules"]:
            if not writes & set(rule["verbs"]):
                continue
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for operation in ("UPDATE", "DELETE"):
                        req = {
                            "resource": {"group": group, "version": "v1", "resource": resource},
                            "operation": operation,
                        }
                        assert POLICY.matches_resource(req), (group, resource, operation)


@pytest.mark.parametrize("resource", sorted(KINDS))
def test_envbot_deletes_what_it_owns(resource: str) -> None:
    labels = OWNED_GRANT if "binding" in resource else OWNED_ENV
    decision = POLICY.review(request("DELETE", resource, obj(resource, "x", labels)))
    assert decision.matched
    # The harness makes any read of `object` an error on DELETE (it is null there); the result
    # does not depend on it, so the error is absorbed by `||` as CEL specifies.
    assert decision.allowed, decision.messages


@pytest.mark.parametrize("resource", sorted(KINDS))
def test_envbot_cannot_delete_a_foreign_object(resource: str) -> None:
    decision = POLICY.review(request("DELETE", resource, obj(resource, "payments", {"team": "x"})))
    assert decision.matched
    assert not decision.allowed
    kind = KINDS[resource][1]
    assert decision.messages == (
        "envbot may only delete objects it owns (labels envbot.io/managed=true and "
        f"envbot.io/env-id or envbot.io/grant-id); {kind} payments is not envbot's",
    )


@pytest.mark.parametrize(
    "labels",
    [
        None,  # no labels at all: metadata.labels is absent
        {},
        {"envbot.io/managed": "true"},  # managed, but no owner id
        {"envbot.io/managed": "true", "envbot.io/env-id": ""},
        {"envbot.io/env-id": "e1a2b3c4"},  # an id without managed=true
        {"envbot.io/managed": "false", "envbot.io/env-id": "e1a2b3c4"},
        {"envbot.io/managed": "True", "envbot.io/grant-id": "g1"},  # label values are exact
        {"example.com/envbot.io/managed": "true", "envbot.io/env-id": "e1"},
    ],
)
def test_anything_short_of_both_labels_is_foreign(labels: dict[str, str] | None) -> None:
    ns = obj("namespaces", "payments", labels)
    decision = POLICY.review(request("DELETE", "namespaces", ns))
    assert not decision.allowed
    assert "is not envbot's" in decision.messages[0]


@pytest.mark.parametrize(
    "user",
    [
        "kubernetes-admin",
        "system:serviceaccount:kube-system:namespace-controller",  # empties a deleted namespace
        "system:serviceaccount:kube-system:generic-garbage-collector",
        "system:serviceaccount:envbot:envbot-other",
        "system:serviceaccount:other:envbot",
    ],
)
def test_other_users_are_not_matched(user: str) -> None:
    foreign = obj("namespaces", "payments", None)
    assert not POLICY.review(request("DELETE", "namespaces", foreign, user=user)).matched
    stripped = obj("namespaces", "payments", {})
    update = request("UPDATE", "namespaces", obj("namespaces", "payments", OWNED_ENV), stripped)
    update["userInfo"]["username"] = user
    assert not POLICY.review(update).matched


def test_create_and_other_kinds_are_not_matched() -> None:
    new = obj("namespaces", "fresh", OWNED_ENV)
    assert not POLICY.review(request("CREATE", "namespaces", None, new)).matched
    secret = request("DELETE", "namespaces", obj("namespaces", "s", None))
    secret["resource"] = {"group": "", "version": "v1", "resource": "secrets"}
    assert not POLICY.review(secret).matched


def test_update_of_an_owned_binding_that_keeps_its_labels_is_allowed() -> None:
    old = obj("rolebindings", "envbot-owner", OWNED_ENV)
    new = obj("rolebindings", "envbot-owner", {**OWNED_ENV, "envbot.io/owner": "U2"})
    new["subjects"] = [{"kind": "User", "name": "new-owner@example.com"}]
    decision = POLICY.review(request("UPDATE", "rolebindings", old, new))
    assert decision.allowed, decision.messages


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"envbot.io/managed": None}, "removes managed"),
        ({"envbot.io/env-id": None}, "removes the env id"),
        ({"envbot.io/env-id": "other-env"}, "moves it to another environment"),
        ({"envbot.io/managed": "false"}, "unmanages it"),
        ({"envbot.io/install-id": "i-2"}, "moves it to another install"),
        ({"envbot.io/install-id": None}, "drops the install id"),
    ],
)
def test_update_that_touches_ownership_labels_is_denied(
    change: dict[str, str | None], why: str
) -> None:
    before = {**OWNED_ENV, "envbot.io/install-id": "i-1"}
    after = {k: v for k, v in {**before, **change}.items() if v is not None}
    old, new = obj("namespaces", "demo", before), obj("namespaces", "demo", after)
    decision = POLICY.review(request("UPDATE", "namespaces", old, new))
    assert not decision.allowed, why
    assert decision.messages == (
        "envbot may not remove or change the ownership labels (envbot.io/*) of Namespace demo",
    )


def test_update_removing_every_label_is_denied() -> None:
    old = obj("namespaces", "demo", OWNED_ENV)
    new = obj("namespaces", "demo", None)
    assert not POLICY.review(request("UPDATE", "namespaces", old, new)).allowed


def test_adding_the_install_id_to_envbots_own_object_is_allowed() -> None:
    old = obj("resourcequotas", "envbot-quota", OWNED_ENV)
    new = obj("resourcequotas", "envbot-quota", {**OWNED_ENV, "envbot.io/install-id": "i-1"})
    assert POLICY.review(request("UPDATE", "resourcequotas", old, new)).allowed


def test_labelling_a_foreign_object_in_the_same_update_does_not_adopt_it() -> None:
    old = obj("clusterrolebindings", "cluster-admins", {"team": "platform"})
    new = obj("clusterrolebindings", "cluster-admins", {"team": "platform", **OWNED_GRANT})
    decision = POLICY.review(request("UPDATE", "clusterrolebindings", old, new))
    assert not decision.allowed
    assert decision.messages[0].startswith("envbot may only change objects it owns")
