"""The ownership rule: an object is ours only when it names this environment (or grant) AND this
install; one from before install ids is adopted only when its id is the spec's; a name is not."""

from __future__ import annotations

import pytest

from provisioning.ownership import INSTALL_ID, Claim, Owner

OWNER = Owner("envbot.io/env-id", "e1abcd", "inst-a")


@pytest.mark.parametrize(
    ("labels", "claim"),
    [
        ({"envbot.io/env-id": "e1abcd", INSTALL_ID: "inst-a"}, Claim.OURS),
        ({"envbot.io/env-id": "e1abcd", INSTALL_ID: "inst-a", "app": "x"}, Claim.OURS),
        # written before install ids, by this database's environment: adoptable
        ({"envbot.io/env-id": "e1abcd"}, Claim.LEGACY),
        # another install that happens to use the same env id
        ({"envbot.io/env-id": "e1abcd", INSTALL_ID: "inst-b"}, Claim.FOREIGN),
        ({"envbot.io/env-id": "e1abcd", INSTALL_ID: ""}, Claim.FOREIGN),
        # from before install ids, but another environment's: never adopted
        ({"envbot.io/env-id": "e2other"}, Claim.FOREIGN),
        ({"envbot.io/env-id": "e2other", INSTALL_ID: "inst-a"}, Claim.FOREIGN),
        ({"envbot.io/grant-id": "e1abcd", INSTALL_ID: "inst-a"}, Claim.FOREIGN),
        ({}, Claim.FOREIGN),
        (None, Claim.FOREIGN),
    ],
)
def test_only_this_env_and_this_install_make_an_object_ours(labels, claim) -> None:
    assert OWNER.claim(labels) is claim
    assert OWNER.owns(labels) is (claim is not Claim.FOREIGN)


def test_the_refusal_names_who_owns_it() -> None:
    said = OWNER.refusal("Cluster prod-db", {"envbot.io/env-id": "e2other"})
    assert said == (
        "Cluster prod-db already exists and belongs to envbot.io/env-id='e2other', not 'e1abcd'"
    )


def test_the_refusal_names_the_other_install() -> None:
    said = OWNER.refusal("Cluster prod-db", {"envbot.io/env-id": "e1abcd", INSTALL_ID: "inst-b"})
    assert said == (
        "Cluster prod-db already exists and belongs to another envbot install "
        "(envbot.io/install-id='inst-b', not 'inst-a')"
    )


def test_an_owner_without_an_install_id_is_refused() -> None:
    with pytest.raises(ValueError, match="run `envbot migrate`"):
        Owner("envbot.io/env-id", "e1abcd", "")
