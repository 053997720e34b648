"""The ownership rule every backend applies before it changes or deletes anything: an object is
envbot's to touch only when its owner label names the environment or grant at hand. A name is
never proof. Pure, so every backend (Kubernetes, AWS) and the tests share one definition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Owner:
    """Who an object must belong to: an owner label key and the value the spec expects
    (the kernel supplies it: the environment or grant id in the backend's spec)."""

    key: str
    value: str

    def owns(self, labels: Mapping[str, str] | None) -> bool:
        """True only when `labels` carry exactly this owner."""
        return labels is not None and labels.get(self.key) == self.value

    def refusal(self, what: str, labels: Mapping[str, str] | None) -> str:
        """Why `what` is not ours, in words for the thread and the logs."""
        have = (labels or {}).get(self.key)
        return f"{what} already exists and belongs to {self.key}={have!r}, not {self.value!r}"
