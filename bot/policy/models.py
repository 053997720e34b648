"""Frozen pydantic models of `policy.yaml`: what may be requested, and the facts about the clusters.

Build a `Policy` with `bot.policy.load_policy` (or `validate_policy`): they add the
cross-reference checks that a bare `Policy.model_validate` does not run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from bot.errors import NotFound
from bot.policy.approvals import Approvals, ApprovalsOverride, AutoApprove, BreakGlass, effective
from bot.policy.base import PolicyModel
from bot.policy.clusters import ClusterSpec
from bot.policy.housekeeping import Cleanup, Dns, Reminders, Retention
from bot.policy.identity import Identity
from bot.policy.pem import PemBundle
from bot.policy.types import (
    Channel,
    Duration,
    HttpUrl,
    PrincipalRef,
    Quantity,
    pattern_text,
)


class PolicyLookupError(NotFound, KeyError):
    """A name that the policy does not define; `str()` is the refusal shown to the user."""

    def __init__(self, what: str, name: str, choices: Iterable[str], hint: str = "") -> None:
        self.what = what
        self.name = name
        self.choices = tuple(sorted(choices))
        if hint:
            message = f'unknown {what} "{name}"; {hint}'
        elif self.choices:
            message = f'unknown {what} "{name}" (expected one of: {", ".join(self.choices)})'
        else:
            message = f'unknown {what} "{name}" (none are defined)'
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError would repr() the message; show it as written.
        return str(self.args[0])


class Oidc(PolicyModel):
    """How clusters authenticate users: dex on the management cluster."""

    issuer: HttpUrl | None = None  # default: https://<management.host>/dex
    client_id: str = "kube-apiserver"  # the audience the clusters' kube-oidc-proxy checks
    # A public dex client for kubelogin, trusted by `client_id`; None: the token page only.
    kubelogin_client_id: Annotated[str, pattern_text(r"\S+", "a dex client id")] | None = None

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: object) -> object:
        if isinstance(data, dict) and "groups_prefix" in data:
            raise ValueError(
                "groups_prefix was removed: envbot grants to users, never to groups, so it had "
                "no effect; delete the groups_prefix line"
            )
        return data


class GlobalView(PolicyModel):
    """Read-only bindings added to every kommander grant (the seed's sandbox group)."""

    cluster_role: str = "kommander-federated-view"
    kommander_cluster_role: str = "dkp-kommander-view"


class Management(PolicyModel):
    """The DKP management cluster: where the token page and dex live."""

    host: str
    oidc: Oidc = Field(default_factory=Oidc)
    global_view: GlobalView | None = None

    @property
    def issuer_url(self) -> str:
        """The OIDC issuer: `oidc.issuer`, or the management cluster's dex."""
        return self.oidc.issuer or f"https://{self.host}/dex"

    @property
    def token_url(self) -> str:
        """The DKP "Generate Token" page."""
        return f"https://{self.host}/token"


class Cluster(PolicyModel):
    """An existing cluster that the namespace and rbac backends act on."""

    context: str
    api_server: HttpUrl
    ca: PemBundle | None = None  # the API server's CA (PEM); None: the system's trusted CAs


class Aws(PolicyModel):
    """The AWS account of a workspace's clusters, for cleanup after deletion."""

    role_arn: Annotated[
        str,
        pattern_text(
            r"arn:aws[a-z-]*:iam::\d{12}:role/\S+",
            "an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
        ),
    ]
    region: Annotated[str, pattern_text(r"[a-z]{2}(-[a-z]+)+-\d", "an AWS region (e.g. us-west-2)")]


class Role(PolicyModel):
    """What one requestable role grants, and how long it may last."""

    workspace_role: str | None = None  # kommander backend: a WorkspaceRole
    kommander_role: str | None = None  # kommander backend: a KommanderWorkspaceRole
    cluster_role: str | None = None  # rbac backend: a ClusterRole
    max: Duration  # cap, counted from activation
    extend_step: Duration
    approvals: ApprovalsOverride | None = None  # changes to the workspace's approvals
    auto_approve: AutoApprove | None = None  # granted at once to these members, in the window


class Workspace(PolicyModel):
    """A Kommander workspace (or a plain cluster) with its owners and requestable roles."""

    access_backend: Literal["kommander", "rbac"] = "kommander"
    namespace: str | None = None
    cluster: str | None = None  # rbac only: a key of `clusters`
    owners: tuple[PrincipalRef, ...]
    approvals_channel: Channel
    pending_timeout: Duration = timedelta(hours=24)
    aws: Aws | None = None
    roles: dict[str, Role] = Field(default_factory=dict)
    approvals: Approvals = Field(default_factory=Approvals)  # for its roles and templates
    break_glass: BreakGlass | None = None  # None: nobody may skip approval

    def role_approvals(self, name: str) -> Approvals:
        """The approval settings of role `name`: the workspace's, changed by the role's.

        Raises:
            PolicyLookupError: no such role.
        """
        return effective(self.approvals, self.role(name).approvals)

    def role(self, name: str) -> Role:
        """Return the role called `name`.

        Raises:
            PolicyLookupError: the workspace has no such role; the message lists the roles.
        """
        try:
            return self.roles[name]
        except KeyError:
            raise PolicyLookupError("role", name, self.roles) from None


class Ttl(PolicyModel):
    """How long an environment lives, counted from creation."""

    default: Duration
    max: Duration  # counted from creation
    extend_step: Duration


class Quota(PolicyModel):
    """Limits on live environments of one template; None is unlimited."""

    per_user: PositiveInt | None = None  # None: unlimited
    total: PositiveInt | None = None


class LimitRange(PolicyModel):
    """Container defaults for a kind namespace environment."""

    default: dict[str, Quantity] = Field(default_factory=dict)  # container limits
    default_request: dict[str, Quantity] = Field(default_factory=dict)


class NamespaceSpec(PolicyModel):
    """kind namespace: the owner's RoleBinding, ResourceQuota and LimitRange."""

    role: str = "edit"
    quota: dict[str, Quantity] = Field(default_factory=dict)
    limit_range: LimitRange | None = None


class Template(PolicyModel):
    """Something `/env create` can make: a cluster or a namespace, with its TTL and who may ask."""

    workspace: str
    kind: Literal["cluster", "namespace"]
    description: str = ""
    ttl: Ttl
    quota: Quota = Field(default_factory=Quota)
    approval: bool = False
    approvals: ApprovalsOverride | None = None  # with approval: true, changes the workspace's
    allowed: tuple[PrincipalRef, ...] = ()  # empty: everyone
    cluster: ClusterSpec | None = None
    namespace: NamespaceSpec = Field(default_factory=NamespaceSpec)
    backend: str | None = None  # override the kind's backend, e.g. "fake"


class Policy(PolicyModel):
    """The whole policy file."""

    management: Management
    drift: Literal["reapply", "report"] = "reapply"
    report_only: bool = False  # expiry and cloud cleanup only say what they would delete
    clusters: dict[str, Cluster] = Field(default_factory=dict)
    workspaces: dict[str, Workspace]
    templates: dict[str, Template] = Field(default_factory=dict)
    reminders: Reminders = Field(default_factory=Reminders)
    dns: Dns | None = None
    cleanup: Cleanup = Field(default_factory=Cleanup)
    retention: Retention = Field(default_factory=Retention)
    identity: Identity = Field(default_factory=Identity)

    def template(self, name: str) -> Template:
        """Return the template called `name`.

        Raises:
            PolicyLookupError: no such template; the message points to `/env templates`.
        """
        try:
            return self.templates[name]
        except KeyError:
            raise PolicyLookupError(
                "template", name, self.templates, hint="try /env templates"
            ) from None

    def template_approvals(self, name: str) -> Approvals:
        """The approval settings of template `name`: its workspace's, changed by its own.

        Raises:
            PolicyLookupError: no such template (or workspace).
        """
        template = self.template(name)
        return effective(self.workspace(template.workspace).approvals, template.approvals)

    def workspace(self, name: str) -> Workspace:
        """Return the workspace called `name`.

        Raises:
            PolicyLookupError: no such workspace; the message lists the workspaces.
        """
        try:
            return self.workspaces[name]
        except KeyError:
            raise PolicyLookupError("workspace", name, self.workspaces) from None

    def cluster(self, name: str) -> Cluster:
        """Return the cluster called `name`.

        Raises:
            PolicyLookupError: no such cluster; the message lists the clusters.
        """
        try:
            return self.clusters[name]
        except KeyError:
            raise PolicyLookupError("cluster", name, self.clusters) from None
