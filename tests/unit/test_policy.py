"""Policy loading: the example file, type errors and cross-reference checks, with exact messages."""

from __future__ import annotations

import base64
import copy
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.durations import parse_duration
from bot.policy import (
    ClusterManifests,
    ClusterRef,
    Policy,
    PolicyError,
    PolicyLookupError,
    Principal,
    PrincipalError,
    PrincipalKind,
    Retention,
    TopologyCluster,
    check_policy_file,
    load_policy,
    parse_principal,
    validate_policy,
)
from bot.policy.types import duration_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"

BASE: dict[str, Any] = {
    "management": {"host": "management.example.com"},
    "clusters": {
        "shared-dev": {"context": "shared-dev", "api_server": "https://shared-dev.example.com"}
    },
    "workspaces": {
        "sandbox": {
            "namespace": "sandbox",
            "owners": ["@sandbox-owners"],
            "approvals_channel": "#sandbox-approvals",
            "roles": {
                "admin": {
                    "workspace_role": "workspace-cluster-admin",
                    "kommander_role": "kommander-workspace-admin",
                    "max": "8h",
                    "extend_step": "4h",
                }
            },
        },
        "team-a": {
            "access_backend": "rbac",
            "cluster": "shared-dev",
            "owners": ["U024BE7LH"],
            "approvals_channel": "C0123ABCD",
            "roles": {"edit": {"cluster_role": "edit", "max": "1d", "extend_step": "4h"}},
        },
    },
    "templates": {
        "sandbox": {
            "workspace": "sandbox",
            "kind": "cluster",
            "ttl": {"default": "3d", "max": "14d", "extend_step": "2d"},
            "cluster": {"topology": {"class": "aws-quick-start", "version": "v1.30.5"}},
        },
        "dev": {
            "workspace": "sandbox",
            "kind": "namespace",
            "ttl": {"default": "8h", "max": "3d", "extend_step": "8h"},
            "cluster": {"ref": "shared-dev"},
        },
    },
    "cleanup": {"region": "us-west-2"},
}


def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def write(tmp_path: Path, data: object, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def problems(tmp_path: Path, data: object) -> list[str]:
    return check_policy_file(write(tmp_path, data))


# --- the example and a valid file ---------------------------------------------------------------


def test_example_policy_loads_and_matches_the_demo():
    # execution
    policy = load_policy(EXAMPLE)

    # validating
    assert set(policy.workspaces) == {"sandbox", "production", "team-a"}
    assert set(policy.templates) == {"sandbox", "prod-cluster", "dev"}
    sandbox = policy.workspace("sandbox")
    assert sandbox.owners == (parse_principal("@sandbox-owners"),)
    assert sandbox.approvals_channel == "#sandbox-approvals"
    assert sandbox.role("admin").max == timedelta(hours=8)
    assert policy.workspace("production").owners == (parse_principal("@production-owners"),)
    assert policy.workspace("production").approvals_channel == "#production-approvals"
    template = policy.template("sandbox")
    assert (template.ttl.default, template.ttl.max) == (timedelta(days=3), timedelta(days=14))
    assert template.quota.per_user == 2
    assert template.allowed == (Principal(kind=PrincipalKind.GROUP, value="engineering"),)
    assert isinstance(template.cluster, ClusterManifests)
    assert template.cluster.manifests == "templates/dkp-aws.yaml"
    assert "kind: AWSCluster" in template.cluster.text
    prod = policy.template("prod-cluster")
    assert isinstance(prod.cluster, TopologyCluster)
    assert prod.cluster.topology.class_ == "aws-quick-start"
    assert prod.cluster.topology.tags_variable == "additionalTags"
    assert prod.approval is True
    dev = policy.template("dev")
    assert dev.cluster == ClusterRef(ref="shared-dev")
    assert dev.namespace.quota["requests.cpu"] == "4"
    assert policy.reminders.quiet_hours is not None
    assert policy.reminders.quiet_hours.start == time(20, 0)
    assert policy.management.token_url == "https://management.example.com/token"


def test_defaults_fill_what_is_left_out(tmp_path):
    # execution
    policy = load_policy(write(tmp_path, base()))

    # validating
    assert policy.drift == "reapply"
    assert policy.management.issuer_url == "https://management.example.com/dex"
    assert policy.management.oidc.client_id == "kube-apiserver"
    assert policy.management.oidc.kubelogin_client_id is None
    assert policy.cluster("shared-dev").ca is None
    assert policy.reminders.before == (timedelta(hours=24), timedelta(hours=1))
    assert policy.retention == Retention(audit="400d", outbox="7d", inbound="1d")
    assert policy.workspace("sandbox").pending_timeout == timedelta(hours=24)
    assert policy.template("sandbox").allowed == ()
    assert policy.template("sandbox").approval is False


def test_models_are_frozen(tmp_path):
    policy = load_policy(write(tmp_path, base()))
    with pytest.raises(ValueError, match="frozen"):
        policy.drift = "report"  # type: ignore[misc]


def test_lookups_raise_policy_lookup_error_with_a_user_message(tmp_path):
    policy = load_policy(write(tmp_path, base()))

    with pytest.raises(PolicyLookupError) as template_err:
        policy.template("nosuchtemplate")
    with pytest.raises(KeyError):
        policy.workspace("nope")
    with pytest.raises(PolicyLookupError) as role_err:
        policy.workspace("sandbox").role("root")

    assert str(template_err.value) == 'unknown template "nosuchtemplate"; try /env templates'
    assert str(role_err.value) == 'unknown role "root" (expected one of: admin)'
    with pytest.raises(
        PolicyLookupError, match=r'^unknown cluster "x" \(expected one of: shared-dev\)$'
    ):
        policy.cluster("x")


# --- type errors ------------------------------------------------------------------------------


def test_bad_duration_message_is_exact(tmp_path):
    data = base()
    data["templates"]["sandbox"]["ttl"]["max"] = "9x"

    errors = problems(tmp_path, data)

    assert errors == [
        'policy.yaml: templates.sandbox.ttl.max: "9x" is not a duration (use 30m, 4h, 3d or 1w)'
    ]


def test_unknown_key_lists_the_expected_keys(tmp_path):
    data = base()
    data["templates"]["dev"]["tll"] = {"default": "1h"}
    data["management"]["oidc"] = {"isuer": "https://x"}

    errors = problems(tmp_path, data)

    assert "policy.yaml: templates.dev.tll: unknown key (expected one of: workspace, kind, " in (
        "".join(e for e in errors if ".tll:" in e)
    )
    assert (
        "policy.yaml: management.oidc.isuer: unknown key "
        "(expected one of: issuer, client_id, kubelogin_client_id)"
    ) in errors


def test_removed_groups_prefix_says_to_delete_it(tmp_path):
    data = base()
    data["management"]["oidc"] = {"client_id": "kube-apiserver", "groups_prefix": "oidc:"}

    errors = problems(tmp_path, data)

    assert errors == [
        "policy.yaml: management.oidc: groups_prefix was removed: envbot grants to users, never "
        "to groups, so it had no effect; delete the groups_prefix line"
    ]


def test_cluster_ca_takes_a_pem_bundle_and_refuses_anything_else(tmp_path):
    # setup: two certificates, as a YAML block would give them
    der = base64.b64encode(b"\x30\x82\x01\x0a" + bytes(64)).decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{der}\n-----END CERTIFICATE-----\n"
    good = base()
    good["clusters"]["shared-dev"]["ca"] = pem + pem
    bad = base()
    bad["clusters"]["shared-dev"]["ca"] = pem + "trailing junk\n"
    not_base64 = base()
    not_base64["clusters"]["shared-dev"]["ca"] = pem.replace(der[:8], "!!!!!!!!")
    not_der = base()
    not_der["clusters"]["shared-dev"]["ca"] = pem.replace(der, base64.b64encode(b"hello").decode())

    # execution / validating
    assert load_policy(write(tmp_path, good)).cluster("shared-dev").ca == pem + pem
    assert problems(tmp_path, bad) == [
        "policy.yaml: clusters.shared-dev.ca: not a certificate bundle: expected PEM "
        "certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), written as "
        "a YAML block (ca: |)"
    ]
    assert "certificate 1 is not valid base64" in problems(tmp_path, not_base64)[0]
    assert "certificate 1 is not a DER certificate" in problems(tmp_path, not_der)[0]


def test_unknown_key_inside_the_cluster_topology_shows_no_union_tag(tmp_path):
    data = base()
    data["templates"]["sandbox"]["cluster"]["topology"]["workers"] = 3

    errors = problems(tmp_path, data)

    assert errors == [
        "policy.yaml: templates.sandbox.cluster.topology.workers: unknown key (expected one of: "
        "class, version, control_plane_replicas, worker_replicas, variables, tags_variable, grace)"
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d.pop("management"),
            "policy.yaml: management: required key is missing",
        ),
        (
            lambda d: d.update(drift="sometimes"),
            'policy.yaml: drift: "sometimes" is not allowed (expected one of: reapply, report)',
        ),
        (
            lambda d: d["templates"]["sandbox"].update(approval="maybe"),
            'policy.yaml: templates.sandbox.approval: expected true or false, got "maybe"',
        ),
        (
            lambda d: d["templates"]["sandbox"].update(quota={"per_user": "two"}),
            'policy.yaml: templates.sandbox.quota.per_user: expected a whole number, got "two"',
        ),
        (
            lambda d: d["templates"]["sandbox"].update(quota={"per_user": 0}),
            "policy.yaml: templates.sandbox.quota.per_user: must be more than 0, got 0",
        ),
        (
            lambda d: d["workspaces"]["sandbox"].update(owners="@sandbox-owners"),
            'policy.yaml: workspaces.sandbox.owners: expected a list, got "@sandbox-owners"',
        ),
        (
            lambda d: d["workspaces"]["sandbox"].update(owners=["sandbox owners"]),
            'policy.yaml: workspaces.sandbox.owners.0: "sandbox owners" is not a user, group or '
            "email (use @group-handle, a user id like U024BE7LH, or an email)",
        ),
        (
            lambda d: d["workspaces"]["sandbox"].update(approvals_channel="sandbox-approvals"),
            'policy.yaml: workspaces.sandbox.approvals_channel: "sandbox-approvals" is not a '
            'channel (use "#name" or an id like C0123ABCD)',
        ),
        (
            lambda d: d["workspaces"]["sandbox"].update(approvals_channel=None),
            "policy.yaml: workspaces.sandbox.approvals_channel: is empty: quote the channel "
            '("#name"), an unquoted # starts a YAML comment',
        ),
        (
            lambda d: d["workspaces"]["sandbox"].update(namespace=7),
            "policy.yaml: workspaces.sandbox.namespace: expected a string, got 7",
        ),
        (
            lambda d: d.update(reminders={"before": ["0m"]}),
            'policy.yaml: reminders.before.0: "0m" must be longer than zero',
        ),
        (
            lambda d: d.update(reminders={"quiet_hours": {"start": "8pm", "end": "08:00"}}),
            'policy.yaml: reminders.quiet_hours.start: "8pm" is not a time of day '
            "(use HH:MM, e.g. 08:00)",
        ),
        (
            lambda d: d["templates"]["sandbox"]["cluster"]["topology"].update(version="1.30"),
            'policy.yaml: templates.sandbox.cluster.topology.version: "1.30" is not a Kubernetes '
            "version (use v1.30.5)",
        ),
        (
            lambda d: d["workspaces"]["sandbox"].update(
                aws={"role_arn": "envbot", "region": "us-west-2"}
            ),
            'policy.yaml: workspaces.sandbox.aws.role_arn: "envbot" is not an IAM role ARN '
            "(arn:aws:iam::<account>:role/<name>)",
        ),
        (
            lambda d: d["cleanup"].update(delete=["ec2:volume", "EC2 volume"]),
            'policy.yaml: cleanup.delete.1: "EC2 volume" is not <service>:<resource-type> '
            "(e.g. ec2:volume)",
        ),
        (
            lambda d: d["templates"]["sandbox"]["cluster"]["topology"].pop("class"),
            "policy.yaml: templates.sandbox.cluster.topology.class: required key is missing",
        ),
        (
            lambda d: d["templates"]["dev"].update(
                namespace={"quota": {"requests.cpu": "4 cores"}}
            ),
            'policy.yaml: templates.dev.namespace.quota."requests.cpu": "4 cores" is not a '
            'Kubernetes quantity (e.g. "4", 500m, 8Gi)',
        ),
    ],
)
def test_type_errors_name_the_key_path(tmp_path, mutate, expected):
    data = base()
    mutate(data)

    errors = problems(tmp_path, data)

    assert errors == [expected]


def test_unquoted_quiet_hour_gets_a_hint(tmp_path):
    text = yaml.safe_dump(base()) + 'reminders: {quiet_hours: {start: 20:00, end: "08:00"}}\n'
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")

    assert check_policy_file(path) == [
        'policy.yaml: reminders.quiet_hours.start: 20:00 must be quoted ("20:00"); unquoted, '
        "YAML reads it as a number"
    ]


# --- cross-reference checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["templates"]["sandbox"].update(workspace="ghost"),
            'policy.yaml: templates.sandbox.workspace: unknown workspace "ghost" '
            "(expected one of: sandbox, team-a)",
        ),
        (
            lambda d: d["templates"]["dev"].update(cluster={"ref": "prod-1"}),
            'policy.yaml: templates.dev.cluster.ref: unknown cluster "prod-1" '
            "(expected one of: shared-dev)",
        ),
        (
            lambda d: d["workspaces"]["team-a"].update(cluster="nowhere"),
            'policy.yaml: workspaces.team-a.cluster: unknown cluster "nowhere" '
            "(expected one of: shared-dev)",
        ),
        (
            lambda d: d["workspaces"]["team-a"].pop("cluster"),
            "policy.yaml: workspaces.team-a.cluster: required for access_backend rbac",
        ),
        (
            lambda d: d["workspaces"]["sandbox"].pop("namespace"),
            "policy.yaml: workspaces.sandbox.namespace: required for access_backend kommander",
        ),
        (
            lambda d: d["templates"]["sandbox"]["ttl"].update(default="20d"),
            "policy.yaml: templates.sandbox.ttl.default: 20d is longer than max 14d",
        ),
        (
            lambda d: d["templates"]["sandbox"]["ttl"].update(extend_step="3w"),
            "policy.yaml: templates.sandbox.ttl.extend_step: 21d is longer than max 14d",
        ),
        (
            lambda d: d["workspaces"]["sandbox"]["roles"]["admin"].update(extend_step="1d"),
            "policy.yaml: workspaces.sandbox.roles.admin.extend_step: 1d is longer than max 8h",
        ),
        (
            lambda d: d["workspaces"]["sandbox"]["roles"]["admin"].pop("kommander_role"),
            "policy.yaml: workspaces.sandbox.roles.admin.kommander_role: "
            "required for access_backend kommander",
        ),
        (
            lambda d: d["workspaces"]["team-a"]["roles"]["edit"].pop("cluster_role"),
            "policy.yaml: workspaces.team-a.roles.edit.cluster_role: "
            "required for access_backend rbac",
        ),
        (
            lambda d: d["workspaces"]["team-a"]["roles"]["edit"].update(workspace_role="x"),
            "policy.yaml: workspaces.team-a.roles.edit.workspace_role: "
            "only for access_backend kommander",
        ),
        (
            lambda d: d["workspaces"]["sandbox"].update(owners=[]),
            "policy.yaml: workspaces.sandbox.owners: must name at least one owner "
            "(nobody could approve requests)",
        ),
        (
            lambda d: d["templates"]["sandbox"].pop("cluster"),
            "policy.yaml: templates.sandbox.cluster: required for kind cluster "
            "(manifests or topology)",
        ),
        (
            lambda d: d["templates"]["dev"].pop("cluster"),
            "policy.yaml: templates.dev.cluster.ref: required for kind namespace",
        ),
        (
            lambda d: d["templates"]["sandbox"].update(quota={"per_user": 5, "total": 3}),
            "policy.yaml: templates.sandbox.quota.per_user: 5 is more than total 3",
        ),
        (
            lambda d: d.update(reminders={"before": ["1h", "60m"]}),
            "policy.yaml: reminders.before: lists 1h twice",
        ),
        (
            lambda d: d.update(reminders={"quiet_hours": {"start": "08:00", "end": "08:00"}}),
            'policy.yaml: reminders.quiet_hours.end: same as start ("08:00"); '
            "leave quiet_hours out for none",
        ),
        (
            lambda d: d["templates"].update(Big_One=d["templates"].pop("sandbox")),
            'policy.yaml: templates.Big_One: "Big_One" is not a valid name (use lowercase letters,'
            ' digits and "-", at most 63 characters, starting and ending with a letter or digit)',
        ),
        (
            lambda d: d["workspaces"].update({"team.b": d["workspaces"].pop("team-a")}),
            'policy.yaml: workspaces.team.b: "team.b" is not a valid name (use lowercase letters,'
            ' digits and "-", at most 63 characters, starting and ending with a letter or digit)',
        ),
    ],
)
def test_cross_reference_errors_name_the_key_path(tmp_path, mutate, expected):
    data = base()
    mutate(data)

    errors = problems(tmp_path, data)

    assert errors == [expected]


def test_every_problem_is_reported_at_once(tmp_path):
    # setup: type errors and cross-reference errors in the same workspace and template
    data = base()
    data["templates"]["sandbox"]["ttl"] = {"default": "20d", "max": "14d", "extend_step": "9x"}
    data["templates"]["sandbox"]["workspace"] = "ghost"
    data["templates"]["dev"]["colour"] = "blue"
    data["workspaces"]["team-a"]["cluster"] = "nowhere"
    data["workspaces"]["team-a"]["approvals_channel"] = "team-a"
    data["drift"] = "never"

    # execution
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, data))

    # validating
    errors = caught.value.errors
    assert set(errors) == {
        'policy.yaml: drift: "never" is not allowed (expected one of: reapply, report)',
        'policy.yaml: workspaces.team-a.approvals_channel: "team-a" is not a channel '
        '(use "#name" or an id like C0123ABCD)',
        'policy.yaml: workspaces.team-a.cluster: unknown cluster "nowhere" '
        "(expected one of: shared-dev)",
        'policy.yaml: templates.sandbox.ttl.extend_step: "9x" is not a duration '
        "(use 30m, 4h, 3d or 1w)",
        "policy.yaml: templates.sandbox.ttl.default: 20d is longer than max 14d",
        'policy.yaml: templates.sandbox.workspace: unknown workspace "ghost" '
        "(expected one of: sandbox, team-a)",
        "policy.yaml: templates.dev.colour: unknown key (expected one of: workspace, kind, "
        "description, ttl, quota, approval, approvals, allowed, cluster, namespace, backend)",
    }
    assert len(errors) == len(set(errors))
    assert str(caught.value) == "\n".join(errors)


def test_errors_use_the_file_base_name(tmp_path):
    data = base()
    data["drift"] = "never"
    path = write(tmp_path, data, name="prod-policy.yaml")

    errors = check_policy_file(path)

    assert len(errors) == 1
    assert errors[0].startswith("prod-policy.yaml: drift: ")


def test_validate_policy_checks_parsed_data_the_same_way():
    data = base()
    data["templates"]["sandbox"]["workspace"] = "ghost"

    with pytest.raises(PolicyError) as caught:
        validate_policy(data, source="inline")

    assert caught.value.errors == [
        'inline: templates.sandbox.workspace: unknown workspace "ghost" '
        "(expected one of: sandbox, team-a)"
    ]
    assert isinstance(validate_policy(base()), Policy)


# --- the file itself -----------------------------------------------------------------------------


def test_yaml_that_is_not_a_mapping_is_one_error(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("# a list, not a mapping\n- sandbox\n- dev\n", encoding="utf-8")

    errors = check_policy_file(path)

    assert len(errors) == 1
    assert errors[0].startswith("policy.yaml: line 2: expected a mapping of management, ")
    assert errors[0].endswith("got a list")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("management:\n  host: a\n   oidc: b\n", encoding="utf-8")

    errors = check_policy_file(path)

    assert errors == [
        "policy.yaml: line 3, column 8: invalid YAML: mapping values are not allowed here"
    ]


def test_empty_and_missing_files_are_one_error(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n", encoding="utf-8")

    assert check_policy_file(empty) == [
        "empty.yaml: the file is empty; expected a mapping of management, drift, report_only, "
        "clusters, workspaces, templates, reminders, dns, cleanup, retention, identity"
    ]
    assert check_policy_file(tmp_path / "absent.yaml") == [
        "absent.yaml: cannot read the file: No such file or directory"
    ]


def test_duplicate_keys_are_reported_with_lines(tmp_path):
    path = tmp_path / "policy.yaml"
    text = "drift: reapply\n" + yaml.safe_dump(base(), sort_keys=False) + "drift: report\n"
    path.write_text(text, encoding="utf-8")

    errors = check_policy_file(path)

    last = text.count("\n")
    assert errors == [f"policy.yaml: drift: duplicate key on line {last} (first on line 1)"]


# --- principals and durations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value", "written"),
    [
        ("@sandbox-owners", PrincipalKind.GROUP, "sandbox-owners", "@sandbox-owners"),
        ("@Engineering", PrincipalKind.GROUP, "engineering", "@engineering"),
        ("U024BE7LH", PrincipalKind.USER, "U024BE7LH", "U024BE7LH"),
        ("W0123ABC", PrincipalKind.USER, "W0123ABC", "W0123ABC"),
        (" Bob@Example.com ", PrincipalKind.EMAIL, "bob@example.com", "bob@example.com"),
    ],
)
def test_principals_parse(text, kind, value, written):
    principal = parse_principal(text)

    assert principal.kind is kind
    assert principal.value == value
    assert str(principal) == written


@pytest.mark.parametrize("text", ["", "@", "bob", "u024be7lh", "bob@example", "@two words"])
def test_bad_principals_are_refused(text):
    with pytest.raises(PrincipalError, match="is not a user, group or email"):
        parse_principal(text)


_UNITS = st.sampled_from("smhdw")
_DURATION_TEXT = st.lists(st.tuples(st.integers(0, 500), _UNITS), min_size=1, max_size=4).map(
    lambda parts: "".join(f"{n}{u}" for n, u in parts)
)


@given(_DURATION_TEXT.filter(lambda text: any(ch not in "0smhdw" for ch in text)))
def test_any_valid_duration_round_trips_through_the_model(text):
    # execution
    retention = Retention(audit=text)
    dumped = retention.model_dump(mode="json")["audit"]

    # validating
    assert retention.audit == parse_duration(text)
    assert parse_duration(dumped) == retention.audit
    assert Retention(audit=dumped) == retention
    assert duration_text(retention.audit) == dumped


def test_limit_range_request_above_its_limit_is_an_error(tmp_path):
    # setup
    data = base()
    data["templates"]["dev"]["namespace"] = {
        "limit_range": {
            "default": {"cpu": "500m"},
            "default_request": {"cpu": "1", "memory": "1Gi"},
        }
    }

    # execution
    errors = problems(tmp_path, data)

    # validating
    assert errors == [
        "policy.yaml: templates.dev.namespace.limit_range.default_request.cpu: 1 is more than "
        "default.cpu 500m (the API server refuses such a LimitRange)"
    ]
