"""The policy: what may be requested and the facts about the clusters, loaded from `policy.yaml`."""

from __future__ import annotations

from bot.policy.base import PolicyModel
from bot.policy.clusters import (
    ClusterManifests,
    ClusterRef,
    ClusterSpec,
    ClusterTopology,
    TopologyCluster,
)
from bot.policy.housekeeping import Cleanup, Dns, QuietHours, Reminders, Retention
from bot.policy.identity import Identity
from bot.policy.loader import (
    PolicyError,
    check_policy_file,
    file_warnings,
    load_policy,
    policy_warnings,
    validate_policy,
)
from bot.policy.models import (
    Aws,
    Cluster,
    GlobalView,
    LimitRange,
    Management,
    NamespaceSpec,
    Oidc,
    Policy,
    PolicyLookupError,
    Quota,
    Role,
    Template,
    Ttl,
    Workspace,
)
from bot.policy.types import (
    Duration,
    Principal,
    PrincipalError,
    PrincipalKind,
    duration_text,
    parse_principal,
)

__all__ = [
    "Aws",
    "Cleanup",
    "Cluster",
    "ClusterManifests",
    "ClusterRef",
    "ClusterSpec",
    "ClusterTopology",
    "Dns",
    "Duration",
    "GlobalView",
    "Identity",
    "LimitRange",
    "Management",
    "NamespaceSpec",
    "Oidc",
    "Policy",
    "PolicyError",
    "PolicyLookupError",
    "PolicyModel",
    "Principal",
    "PrincipalError",
    "PrincipalKind",
    "QuietHours",
    "Quota",
    "Reminders",
    "Retention",
    "Role",
    "Template",
    "TopologyCluster",
    "Ttl",
    "Workspace",
    "check_policy_file",
    "duration_text",
    "file_warnings",
    "load_policy",
    "parse_principal",
    "policy_warnings",
    "validate_policy",
]
