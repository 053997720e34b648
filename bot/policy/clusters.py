"""The `cluster:` key of a template: a `manifests` file, a ClusterClass `topology`, or (kind
namespace) a `ref` to an existing cluster.

A `manifests` file is read and rendered once with sample values while the policy is validated,
relative to the policy file (the loader passes its folder as validation context `policy_dir`),
so a placeholder without a value is a policy error, not a failed environment.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    Discriminator,
    Field,
    JsonValue,
    NonNegativeInt,
    PositiveInt,
    PrivateAttr,
    Tag,
    ValidationInfo,
    model_validator,
)

from bot.domain import manifests
from bot.domain.placeholders import PLACEHOLDER_NAME, placeholders
from bot.policy.base import PolicyModel
from bot.policy.types import Duration, KubeVersion

_NAME = re.compile(PLACEHOLDER_NAME)
_OLD_SHAPE = (
    "class and version now go under topology: write `cluster: {topology: {class: ..., "
    "version: ..., control_plane_replicas: ..., worker_replicas: ..., variables: {...}}}`, "
    "or use `manifests: <file>` with `variables:` for plain Cluster API objects (DKP on AWS)"
)


class ClusterTopology(PolicyModel):
    """A Cluster API topology built from a ClusterClass in the workspace namespace."""

    class_: str = Field(alias="class")
    version: KubeVersion
    control_plane_replicas: PositiveInt = 1
    worker_replicas: NonNegativeInt = 2
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    tags_variable: str | None = None  # a ClusterClass variable that takes the AWS tags
    grace: Duration = timedelta(minutes=10)  # TopologyReconciled=False this long fails it


class TopologyCluster(PolicyModel):
    """kind cluster: `topology:` (a ClusterClass)."""

    topology: ClusterTopology


class ClusterManifests(PolicyModel):
    """kind cluster: `manifests:` (a file of Cluster API objects) and its `variables`."""

    manifests: str
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    _text: str = PrivateAttr(default="")

    @property
    def text(self) -> str:
        """The template file's contents, read when the policy was loaded."""
        return self._text

    def unused_variables(self) -> list[str]:
        """Variables no placeholder of the file uses (a typo, or a leftover), sorted."""
        used = {p.name for p in placeholders(self._text)}
        return sorted(k for k in self.variables if k.upper() not in used)

    @model_validator(mode="after")
    def _read_and_check(self, info: ValidationInfo) -> Self:
        bad = sorted(k for k in self.variables if not _NAME.fullmatch(k))
        if bad:
            raise ValueError(
                f"variables {', '.join(bad)}: a variable fills the placeholder of its upper-cased "
                "name, so use letters, digits and _ (worker_replicas fills WORKER_REPLICAS)"
            )
        clash = sorted(k for k in self.variables if k.upper() in manifests.BUILTINS)
        if clash:
            raise ValueError(
                f"variables {', '.join(clash)}: envbot sets "
                f"{', '.join('${' + k.upper() + '}' for k in clash)} itself; rename them"
            )
        base = Path((info.context or {}).get("policy_dir") or Path.cwd())
        path = base / self.manifests
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ValueError(
                f"cannot read {self.manifests} ({reason}); the path is relative to the policy file"
            ) from exc
        problems = manifests.check(text, self.variables)
        if problems:
            raise ValueError(f"{self.manifests}: " + "; ".join(problems))
        self._text = text
        return self


class ClusterRef(PolicyModel):
    """kind namespace: the existing cluster the namespace goes in."""

    ref: str


class OldTopology(PolicyModel):
    """The pre-`topology:` shape (`cluster: {class, version}`), refused with how to rewrite it."""

    @model_validator(mode="before")
    @classmethod
    def _refuse(cls, data: Any) -> Any:
        raise ValueError(_OLD_SHAPE)


class UnknownCluster(PolicyModel):
    """A `cluster:` mapping of none of the known shapes."""

    @model_validator(mode="before")
    @classmethod
    def _refuse(cls, data: Any) -> Any:
        raise ValueError(
            "expected `manifests: <file>` (with variables), `topology: {...}` (kind cluster) "
            "or `ref: <cluster>` (kind namespace)"
        )


def _cluster_shape(value: object) -> str:
    if isinstance(value, PolicyModel):
        return type(value).__name__
    keys = set(value) if isinstance(value, dict) else set()
    for key, shape in (
        ("ref", "ClusterRef"),
        ("manifests", "ClusterManifests"),
        ("topology", "TopologyCluster"),
    ):
        if key in keys:
            return shape
    return "OldTopology" if keys & {"class", "version"} else "UnknownCluster"


ClusterSpec = Annotated[
    Annotated[ClusterManifests, Tag("ClusterManifests")]
    | Annotated[TopologyCluster, Tag("TopologyCluster")]
    | Annotated[ClusterRef, Tag("ClusterRef")]
    | Annotated[OldTopology, Tag("OldTopology")]
    | Annotated[UnknownCluster, Tag("UnknownCluster")],
    Discriminator(_cluster_shape),
]
