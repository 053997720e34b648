"""The ownership rule: only an object labelled with the expected owner is ours; a name is not."""

from __future__ import annotations

import pytest

from provisioning.ownership import Owner

OWNER = Owner("envbot.io/env-id", "e1abcd")


@pytest.mark.parametrize(
    ("labels", "ours"),
    [
        ({"envbot.io/env-id": "e1abcd"}, True),
        ({"envbot.io/env-id": "e1abcd", "app": "x"}, True),
        ({"envbot.io/env-id": "e2other"}, False),
        ({"envbot.io/grant-id": "e1abcd"}, False),
        ({}, False),
        (None, False),
    ],
)
def test_only_the_expected_owner_label_makes_an_object_ours(labels, ours) -> None:
    assert OWNER.owns(labels) is ours


def test_the_refusal_names_who_owns_it() -> None:
    said = OWNER.refusal("Cluster prod-db", {"envbot.io/env-id": "e2other"})
    assert said == (
        "Cluster prod-db already exists and belongs to envbot.io/env-id='e2other', not 'e1abcd'"
    )
