"""Reading a cluster's /version answer: gitVersion first, vendor minors ("28+") as fallback."""

from __future__ import annotations

import pytest

from provisioning.kube.version import admission_policy_note, parse_version


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"major": "1", "minor": "30", "gitVersion": "v1.30.2"}, (1, 30)),
        ({"major": "1", "minor": "28+", "gitVersion": "v1.28.9-eks-036c24b"}, (1, 28)),
        ({"major": "1", "minor": "27+", "gitVersion": ""}, (1, 27)),  # minor as vendors write it
        ({"major": "1", "minor": "31"}, (1, 31)),
        ({"gitVersion": "v1.9.11"}, (1, 9)),  # 1.9 < 1.30: compared as numbers, not text
        ({"major": "", "minor": ""}, None),
        ({}, None),
    ],
)
def test_parse_version(info: dict[str, str], expected: tuple[int, int] | None) -> None:
    assert parse_version(info) == expected


def test_note_only_below_1_30() -> None:
    assert admission_policy_note("c", {"gitVersion": "v1.30.0"}) is None
    assert admission_policy_note("c", {"gitVersion": "v2.0.0"}) is None
    note = admission_policy_note("c", {"gitVersion": "v1.9.11"})
    assert note is not None
    assert "c runs v1.9" in note
    unknown = admission_policy_note("c", {"gitVersion": "weird"})
    assert unknown == (
        "cannot tell the Kubernetes version of c from /version ('weird'); the admission policy "
        "needs Kubernetes >= 1.30"
    )
