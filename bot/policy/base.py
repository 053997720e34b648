"""The base of every policy model: frozen, and an unknown key is an error (a typo never passes)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PolicyModel(BaseModel):
    """Base of every policy model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")
