"""The ownership rule every backend applies before it changes or deletes anything: an object is
envbot's to touch only when its labels name the environment or grant at hand AND this install.
A name is never proof. Pure, so every backend (Kubernetes, AWS tags) and the tests share one
definition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

INSTALL_ID = "envbot.io/install-id"  # label (and AWS tag) key naming the install that wrote it


class Claim(StrEnum):
    """What an object's labels say about whose it is."""

    OURS = "ours"  # this environment or grant, this install
    # This environment or grant, written before install ids existed: the id names a row of this
    # database (the spec's), so it is ours to adopt by adding the install-id label.
    LEGACY = "legacy"
    FOREIGN = "foreign"  # anything else: never changed, adopted or deleted


@dataclass(frozen=True)
class Owner:
    """Who an object must belong to: an owner label key, the id the spec expects (the
    environment or grant id) and the install id of this database."""

    key: str
    value: str
    install_id: str

    def __post_init__(self) -> None:
        if not self.install_id:
            raise ValueError(
                "no install id: run `envbot migrate` (it stores one) before provisioning"
            )

    def claim(self, labels: Mapping[str, str] | None) -> Claim:
        """Whose the object with `labels` is, from our point of view."""
        found = labels or {}
        if found.get(self.key) != self.value:
            return Claim.FOREIGN
        install = found.get(INSTALL_ID)
        if install == self.install_id:
            return Claim.OURS
        return Claim.LEGACY if install is None else Claim.FOREIGN

    def owns(self, labels: Mapping[str, str] | None) -> bool:
        """True when the object is ours to change or delete (ours, or ours from before)."""
        return self.claim(labels) is not Claim.FOREIGN

    def refusal(self, what: str, labels: Mapping[str, str] | None) -> str:
        """Why `what` is not ours, in words for the thread and the logs."""
        found = labels or {}
        have = found.get(self.key)
        if have == self.value:
            return (
                f"{what} already exists and belongs to another envbot install "
                f"({INSTALL_ID}={found.get(INSTALL_ID)!r}, not {self.install_id!r})"
            )
        return f"{what} already exists and belongs to {self.key}={have!r}, not {self.value!r}"
