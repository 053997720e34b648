"""The backend Protocols every provisioner implements, and the frozen specs they act on.

Contract for every backend: operations are idempotent. Object names are derived from the
environment or grant id, so a repeated create (a retry, a second replica) meets 409 and reads
the object back instead of failing. Errors are `TemporaryError(retry_after)` (retry later) or
`PermanentError` (give up), with the SDK exception chained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Phase(StrEnum):
    """Provisioning progress of an environment, each posted once in its thread."""

    ACCEPTED = "accepted"
    INFRASTRUCTURE = "infrastructure"
    CONTROL_PLANE = "control_plane"
    WORKERS = "workers"
    ATTACHED = "attached"
    READY = "ready"
    DELETING = "deleting"
    DELETED = "deleted"
    FAILED = "failed"


@dataclass(frozen=True)
class ClusterTopology:
    """What a `topology` cluster template asks Cluster API for."""

    cluster_class: str
    version: str
    control_plane_replicas: int = 1
    worker_replicas: int = 1
    variables: Mapping[str, object] = field(default_factory=dict)
    tags_variable: str = ""  # the ClusterClass variable that takes the AWS tags; "" for none
    grace: timedelta = timedelta(minutes=10)  # TopologyReconciled=False this long is a failure


@dataclass(frozen=True)
class ClusterManifests:
    """A `manifests` cluster template: the file's text and the policy variables."""

    source: str  # the file name as the policy wrote it, for messages
    text: str
    variables: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvSpec:
    """Everything a backend needs to create, observe or delete one environment."""

    env_id: str
    name: str
    workspace: str
    namespace: str  # the workspace namespace (capi) or the namespace to create (namespace kind)
    template: str
    owner_id: str
    owner_email: str
    expires_at: datetime
    topology: ClusterTopology | None = None  # cluster kind, from a ClusterClass
    manifests: ClusterManifests | None = None  # cluster kind, from a file of objects
    cluster_ref: str = ""  # namespace kind: the `clusters` entry to create the namespace in
    role: str = ""  # namespace kind: ClusterRole bound to the owner
    quota: Mapping[str, str] = field(default_factory=dict)
    # namespace kind: the LimitRange's container `default` / `defaultRequest`; empty: no LimitRange
    limit_range: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # This install's id (from the database): on every object as a label beside the env id, and
    # for the cloud's tags; objects without it are adopted only when their env id is this one.
    install_id: str = ""

    @property
    def is_cluster(self) -> bool:
        """True for a cluster environment (either kind of cluster template)."""
        return self.topology is not None or self.manifests is not None


@dataclass(frozen=True)
class Observation:
    """What a backend saw of one environment in a single list pass."""

    phase: Phase
    exists: bool = True
    failure: str = ""  # non-empty when the backend reports a permanent failure
    drift: str = ""  # non-empty when a READY environment's objects were changed or removed
    endpoints: Mapping[str, str] = field(default_factory=dict)


class EnvironmentBackend(Protocol):
    """Creates, observes and deletes environments. Every method is idempotent."""

    name: str

    def create(self, spec: EnvSpec) -> None:
        """Create every object of the environment, or find them already there.

        Raises:
            TemporaryError: worth retrying later.
            PermanentError: the environment cannot be created as specified.
        """
        ...

    def observe(
        self, specs: Sequence[EnvSpec], *, expected_ready: bool = False
    ) -> dict[str, Observation]:
        """Observe many environments with list calls (never a GET each), keyed by env id.

        With `expected_ready`, objects missing from an environment are reported as drift at
        once (the caller knows they were created), without a grace period.

        Environments whose objects are all gone map to `Observation(Phase.DELETED, exists=False)`.
        """
        ...

    def delete(self, spec: EnvSpec) -> None:
        """Start deleting every object of the environment; a no-op for what is already gone."""
        ...


@runtime_checkable
class SweepsLeftovers(Protocol):
    """A backend whose environments are more objects than the ones `delete` starts on: each
    reconcile pass over a DELETING environment asks it to delete what is left once the main
    object is gone (owner-checked), and `observe` reports DELETING until nothing is."""

    def delete_leftovers(self, spec: EnvSpec) -> None:
        """Delete this environment's remaining objects, if its main object is gone."""
        ...


@dataclass(frozen=True)
class GrantSpec:
    """One grant: a subject gets a role in a workspace until `expires_at`."""

    grant_id: str
    subject: str  # the OIDC user: the requester's email
    workspace: str
    namespace: str
    role: str
    expires_at: datetime
    workspace_role: str = ""  # kommander
    kommander_role: str = ""  # kommander
    cluster_role: str = ""  # rbac; a ClusterRoleBinding when namespace is empty
    cluster_ref: str = ""  # rbac: the `clusters` entry
    global_cluster_role: str = ""  # kommander: the global read-only cluster role
    global_kommander_role: str = ""  # kommander: the global read-only UI role
    install_id: str = ""  # this install's id, a label beside the grant id on every object


class AccessBackend(Protocol):
    """Applies and removes grants. Every method is idempotent; each grant owns its own objects,
    so revoking one grant never removes access that an overlapping grant still gives."""

    name: str

    def grant(self, spec: GrantSpec) -> None:
        """Create every object of the grant, or find them already there."""
        ...

    def revoke(self, spec: GrantSpec) -> None:
        """Delete every object of the grant; a no-op for what is already gone."""
        ...

    def drifted(self, specs: Sequence[GrantSpec]) -> dict[str, str]:
        """For grants whose objects were changed or removed outside the bot: id -> what changed."""
        ...
