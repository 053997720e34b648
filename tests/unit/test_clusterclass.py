"""A topology template's variables against a ClusterClass, and when a topology counts as stuck."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from provisioning.kube.clusterclass import declared_variables, schema_problems, variable_problems
from provisioning.kube.topology import topology_stuck

SPEC_ONLY = {
    "spec": {
        "variables": [
            {"name": "region", "required": True, "schema": {"openAPIV3Schema": {"type": "string"}}},
            {
                "name": "zone",
                "required": True,
                "schema": {"openAPIV3Schema": {"type": "string", "default": "a"}},
            },
        ]
    }
}


def test_status_variables_win_over_spec_variables_when_the_controller_filled_them():
    reconciled = {
        **SPEC_ONLY,
        "status": {
            "variables": [
                {
                    "name": "fromExtension",
                    "definitions": [
                        {"from": "ext", "required": False, "schema": {"openAPIV3Schema": {}}}
                    ],
                }
            ]
        },
    }
    assert set(declared_variables(SPEC_ONLY)) == {"region", "zone"}
    assert set(declared_variables(reconciled)) == {"fromExtension"}


def test_a_required_variable_without_a_default_must_be_given():
    assert variable_problems("t", "c", SPEC_ONLY, {}) == [
        "template t: variable region is required by ClusterClass c; add it to the template's "
        "topology.variables"
    ]
    assert variable_problems("t", "c", SPEC_ONLY, {"region": "us-west-2"}) == []


def test_object_values_are_checked_field_by_field():
    schema = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "maxLength": 3}, "size": {"type": "integer"}},
    }
    assert schema_problems({"name": "long", "size": True, "extra": 1}, schema, "v") == [
        "v.name: 'long' is longer than 3 characters",
        "v.size: must be of type integer, got True",
        "v.extra: is not a field of the variable's schema",
    ]
    assert schema_problems({"size": 1}, schema, "v") == ["v.name: required field is missing"]
    assert schema_problems({"a": 1}, {"type": "object"}, "v") == [
        "v.a: is not a field of the variable's schema"
    ]
    free = {"type": "object", "additionalProperties": {"type": "string"}}
    assert schema_problems({"a": "b"}, free, "v") == []
    assert schema_problems({"a": 1}, free, "v") == ["v.a: must be of type string, got 1"]


def _cluster(reason: str, since: str, where: str = "conditions") -> dict[str, object]:
    cond = {"type": "TopologyReconciled", "status": "False", "reason": reason, "message": "m"}
    cond["lastTransitionTime"] = since
    status: dict[str, object] = {where: [cond]}
    if where == "deprecated":
        status = {"deprecated": {"v1beta1": {"conditions": [cond]}}}
    return {"metadata": {"creationTimestamp": since}, "status": status}


def test_topology_stuck_only_past_the_grace_and_only_for_a_failure_reason():
    now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    grace = timedelta(minutes=10)
    old, fresh = "2026-01-05T09:00:00Z", "2026-01-05T09:55:00Z"
    assert topology_stuck(_cluster("TopologyReconcileFailed", old), now, grace).endswith(": m")
    assert topology_stuck(_cluster("ReconcileFailed", old, "deprecated"), now, grace) != ""
    assert topology_stuck(_cluster("ReconcileFailed", fresh), now, grace) == ""
    for waiting in ("ClusterCreating", "MachineDeploymentsCreatePending", "Paused"):
        assert topology_stuck(_cluster(waiting, old), now, grace) == ""
    assert topology_stuck(None, now, grace) == ""
