"""Cluster templates in the policy: placeholders, the `manifests` checks, the old shape, and the
AWS tags a rendered template carries."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import manifests
from bot.domain.placeholders import MissingVariables, missing, placeholders, substitute
from bot.errors import PermanentError
from bot.policy import check_policy_file, load_policy, policy_warnings
from provisioning.base import ClusterManifests, ClusterTopology, EnvSpec
from provisioning.kube import templates as tpl
from tests.unit.test_policy import BASE

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEMPLATE = (EXAMPLES / "templates" / "dkp-aws.yaml").read_text(encoding="utf-8")
EXAMPLE_VARIABLES = {
    "region": "us-west-2",
    "control_plane_instance_type": "m5.xlarge",
    "worker_instance_type": "m5.2xlarge",
    "worker_replicas": 2,
    "kubernetes_version": "v1.29.9",
}
NAMES = st.from_regex(r"[A-Z_][A-Z0-9_]{0,12}", fullmatch=True)
TEXT = st.text(st.characters(blacklist_characters="${}", codec="utf-8"), max_size=20)


# --- placeholders --------------------------------------------------------------------------------


@given(name=NAMES, value=TEXT, before=TEXT, after=TEXT)
def test_a_placeholder_is_replaced_by_its_value_and_nothing_else_changes(
    name, value, before, after
):
    assert substitute(f"{before}${{{name}}}{after}", {name: value}) == f"{before}{value}{after}"


@given(name=NAMES, default=TEXT, op=st.sampled_from([":=", ":-", "=", "-"]))
def test_a_default_applies_only_without_a_value(name, default, op):
    text = f"x: ${{{name}{op}{default}}}"
    assert substitute(text, {}) == f"x: {default}"
    assert substitute(text, {name: "given"}) == "x: given"
    assert missing(text, {}) == []


@given(names=st.lists(NAMES, min_size=1, max_size=5))
def test_every_missing_name_is_reported_once_and_sorted(names):
    text = " ".join(f"${{{n}}} ${{{n}}}" for n in names)
    with pytest.raises(MissingVariables) as info:
        substitute(text, {})
    assert info.value.names == sorted(set(names))


def test_shell_and_kubernetes_dollars_are_left_alone():
    text = "cmd: echo $HOME $(CSI_ENDPOINT) ${X}"
    assert [p.name for p in placeholders(text)] == ["X"]
    assert substitute(text, {"X": "1"}) == "cmd: echo $HOME $(CSI_ENDPOINT) 1"


def test_policy_variables_fill_their_upper_cased_placeholders():
    values = manifests.variable_values(
        {"worker_replicas": 2, "spot": True, "zones": ["a", "b"], "region": "us-west-2"}
    )
    assert values == {
        "WORKER_REPLICAS": "2",
        "SPOT": "true",
        "ZONES": '["a", "b"]',
        "REGION": "us-west-2",
    }


# --- the manifests shape in the policy ----------------------------------------------------------


def _policy(tmp_path: Path, template_text: str, variables: dict[str, Any]) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "aws.yaml").write_text(template_text, encoding="utf-8")
    data = copy.deepcopy(BASE)
    data["templates"]["sandbox"]["cluster"] = {
        "manifests": "templates/aws.yaml",
        "variables": variables,
    }
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_the_example_template_passes_with_the_example_variables(tmp_path):
    assert check_policy_file(_policy(tmp_path, TEMPLATE, EXAMPLE_VARIABLES)) == []


def test_a_placeholder_without_a_value_names_template_file_and_variable(tmp_path):
    variables = {k: v for k, v in EXAMPLE_VARIABLES.items() if k != "worker_instance_type"}

    errors = check_policy_file(_policy(tmp_path, TEMPLATE, variables))

    assert errors == [
        "policy.yaml: templates.sandbox.cluster: templates/aws.yaml: no value for "
        "${WORKER_INSTANCE_TYPE}: add worker_instance_type to variables (or write "
        "${WORKER_INSTANCE_TYPE:=default} in the template)"
    ]


def test_a_missing_template_file_says_the_path_is_relative_to_the_policy(tmp_path):
    path = _policy(tmp_path, TEMPLATE, EXAMPLE_VARIABLES)
    (tmp_path / "templates" / "aws.yaml").unlink()

    (error,) = check_policy_file(path)

    assert error.startswith(
        "policy.yaml: templates.sandbox.cluster: cannot read templates/aws.yaml"
    )
    assert error.endswith("the path is relative to the policy file")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda t: t.replace("namespace: ${NAMESPACE}", "namespace: kube-system", 1),
            "Cluster envbot-sample: metadata.namespace is 'kube-system'; leave it out or write "
            "${NAMESPACE} (objects go in the workspace namespace)",
        ),
        (
            lambda t: t.replace("  name: ${CLUSTER_NAME}\n", "  name: fixed\n", 1),
            'needs exactly one Cluster, named "${CLUSTER_NAME}"',
        ),
        (
            lambda t: t.replace("\nkind: AWSCluster\n", "\nkind: AWSClusterTemplate\n", 1),
            "document 2: kind 'AWSClusterTemplate' is not supported",
        ),
        (
            lambda t: t.replace(
                "      instanceType: ${WORKER_INSTANCE_TYPE}\n",
                "      instanceType: ${WORKER_INSTANCE_TYPE}\n      additionalTags: {owner: me}\n",
            ),
            "AWSMachineTemplate envbot-sample-md-0: spec.template.spec.additionalTags sets owner",
        ),
    ],
)
def test_a_template_that_cannot_work_is_refused_with_what_to_change(tmp_path, change, expected):
    (error,) = check_policy_file(_policy(tmp_path, change(TEMPLATE), EXAMPLE_VARIABLES))
    assert error.startswith("policy.yaml: templates.sandbox.cluster: templates/aws.yaml: ")
    assert expected in error


def test_a_variable_may_not_shadow_a_built_in(tmp_path):
    (error,) = check_policy_file(
        _policy(tmp_path, TEMPLATE, {**EXAMPLE_VARIABLES, "cluster_name": "x"})
    )
    assert "variables cluster_name: envbot sets ${CLUSTER_NAME} itself; rename them" in error


def test_the_old_shape_is_refused_with_how_to_rewrite_it(tmp_path):
    data = copy.deepcopy(BASE)
    data["templates"]["sandbox"]["cluster"] = {"class": "aws-quick-start", "version": "v1.30.5"}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    (error,) = check_policy_file(path)

    assert error.startswith(
        "policy.yaml: templates.sandbox.cluster: class and version now go under topology: "
        "write `cluster: {topology: {class: ..., version: ..."
    )


def test_a_topology_without_tags_variable_is_a_warning_not_an_error(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(BASE), encoding="utf-8")

    policy = load_policy(path)

    assert policy_warnings(policy) == [
        "policy.yaml: templates.sandbox.cluster.topology.tags_variable: not set, so the AWS "
        "resources of these clusters get no owner/expiration/env-id tags; name the ClusterClass "
        "variable that takes additionalTags"
    ]
    assert policy_warnings(load_policy(EXAMPLES / "policy.yaml")) == []


# --- rendering for one environment --------------------------------------------------------------


def _spec(**changes: Any) -> EnvSpec:
    base = EnvSpec(
        env_id="01JENV",
        name="sb-alice-1",
        workspace="sandbox",
        namespace="sandbox",
        template="sandbox",
        owner_id="U1",
        owner_email="Alice.O'Neil@example.com",
        expires_at=datetime(2026, 1, 8, 9, 0, tzinfo=UTC),
        manifests=ClusterManifests("templates/dkp-aws.yaml", TEMPLATE, EXAMPLE_VARIABLES),
    )
    return EnvSpec(**{**base.__dict__, **changes})


def test_rendered_objects_carry_our_metadata_and_the_aws_cluster_our_tags():
    rendered = tpl.render_manifests(_spec(), {"envbot.io/env-id": "01JENV"}, {"a": "b"})

    kinds = [obj["kind"] for _, obj in rendered]
    assert kinds[0] == "Cluster"
    assert sorted(kinds) == sorted(
        [
            "Cluster",
            "AWSCluster",
            "KubeadmControlPlane",
            "AWSMachineTemplate",
            "MachineDeployment",
            "AWSMachineTemplate",
            "KubeadmConfigTemplate",
        ]
    )
    for res, obj in rendered:
        assert obj["metadata"]["namespace"] == "sandbox"
        assert obj["metadata"]["labels"]["envbot.io/env-id"] == "01JENV"
        assert obj["metadata"]["annotations"]["a"] == "b"
        assert res.kind == obj["kind"]
        assert obj["apiVersion"] == res.api_version
    (aws,) = [obj for _, obj in rendered if obj["kind"] == "AWSCluster"]
    assert aws["spec"]["additionalTags"] == {
        "cost-center": "platform",
        "owner": "Alice.O_Neil@example.com",  # CAPA allows no "'" in a tag
        "expiration": "2026-01-08T09:00:00Z",
        "envbot.io/env-id": "01JENV",
    }
    (md,) = [obj for _, obj in rendered if obj["kind"] == "MachineDeployment"]
    assert md["spec"]["replicas"] == 2
    assert md["spec"]["template"]["spec"]["version"] == "v1.29.9"


def test_a_template_changed_after_the_policy_check_fails_permanently_with_the_reason():
    broken = ClusterManifests("templates/dkp-aws.yaml", TEMPLATE + "\n---\n${NEW_THING}\n", {})
    with pytest.raises(PermanentError, match=r"template sandbox: templates/dkp-aws.yaml: no value"):
        tpl.render_manifests(_spec(manifests=broken), {}, {})


def test_topology_tags_go_into_the_named_variable_merged_over_the_given_value():
    topo = ClusterTopology(
        "aws-quick-start",
        "v1.30.5",
        variables={"region": "us-west-2", "additionalTags": {"team": "a", "owner": "spoofed"}},
        tags_variable="additionalTags",
    )
    values = tpl.topology_variables(_spec(manifests=None, topology=topo))
    assert values["additionalTags"] == {
        "team": "a",
        "owner": "Alice.O_Neil@example.com",
        "expiration": "2026-01-08T09:00:00Z",
        "envbot.io/env-id": "01JENV",
    }


def test_tag_patch_touches_only_our_keys_and_only_when_they_differ():
    spec = _spec()
    stored = {"kind": "AWSCluster", "spec": {"additionalTags": {"x": "1", **tpl.aws_tags(spec)}}}
    assert tpl.tag_patch(stored, spec) is None

    later = _spec(expires_at=datetime(2026, 1, 10, 9, 0, tzinfo=UTC))

    assert tpl.tag_patch(stored, later) == {"spec": {"additionalTags": tpl.aws_tags(later)}}


def test_a_variable_no_placeholder_uses_is_a_warning(tmp_path):
    policy = load_policy(_policy(tmp_path, TEMPLATE, {**EXAMPLE_VARIABLES, "regoin": "eu-west-1"}))

    assert policy_warnings(policy) == [
        "policy.yaml: templates.sandbox.cluster.variables: regoin fill no placeholder of "
        "templates/aws.yaml (a typo?)"
    ]


def test_a_variable_name_that_cannot_be_a_placeholder_is_an_error(tmp_path):
    (error,) = check_policy_file(
        _policy(tmp_path, TEMPLATE, {**EXAMPLE_VARIABLES, "worker-count": 2})
    )
    assert error == (
        "policy.yaml: templates.sandbox.cluster: variables worker-count: a variable fills the "
        "placeholder of its upper-cased name, so use letters, digits and _ (worker_replicas "
        "fills WORKER_REPLICAS)"
    )
