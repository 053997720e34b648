"""The kubectl commands that point a user's kubeconfig at a cluster, signing in through kubelogin.

Pure text: the callers know the server, the CA and the dex clients. One command per line and no
line continuations, so the block pastes into bash, zsh and PowerShell alike. Nothing here is a
credential: kubelogin gets the user's own token from dex in the browser when kubectl first runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

EXEC_API_VERSION = "client.authentication.k8s.io/v1"
# kubelogin always adds `openid` (pkg/oidc/client/factory.go); these come on top of it.
BASE_SCOPES = ("email", "groups", "offline_access")
# dex's cross-client scope: the ID token's audience gets the named (trusting) client.
AUDIENCE_SCOPE = "audience:server:client_id:"


@dataclass(frozen=True)
class Login:
    """How kubelogin gets a token: the issuer, the public client it signs in as, the audience."""

    issuer: str
    client_id: str  # the public dex client (localhost redirects, no secret)
    audience: str  # the client the clusters check `aud` against (DKP: kube-apiserver)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes kubelogin asks for besides `openid`."""
        if self.audience == self.client_id:
            return BASE_SCOPES
        return (*BASE_SCOPES, AUDIENCE_SCOPE + self.audience)

    def exec_args(self) -> list[str]:
        """The arguments of `kubectl` that run kubelogin's get-token."""
        args = [
            "oidc-login",
            "get-token",
            f"--oidc-issuer-url={self.issuer}",
            f"--oidc-client-id={self.client_id}",
        ]
        return args + [f"--oidc-extra-scope={scope}" for scope in self.scopes]


@dataclass(frozen=True)
class Target:
    """One kubeconfig entry set: the cluster, its CA, and the context's user and namespace."""

    name: str  # cluster and context name (a DNS label)
    server: str
    ca_data: str = ""  # base64 of the PEM bundle; empty: the system's trusted CAs
    namespace: str = ""
    user: str = ""  # default: oidc-<name>


def _cmd(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


def credentials_command(user: str, login: Login) -> str:
    """`kubectl config set-credentials` for an exec user that runs kubelogin."""
    return _cmd(
        "kubectl",
        "config",
        "set-credentials",
        user,
        f"--exec-api-version={EXEC_API_VERSION}",
        "--exec-interactive-mode=Never",
        "--exec-command=kubectl",
        *(f"--exec-arg={arg}" for arg in login.exec_args()),
    )


def kubectl_commands(target: Target, login: Login) -> list[str]:
    """The commands that add the cluster, the user and the context, and switch to it."""
    user = target.user or f"oidc-{target.name}"
    commands = [_cmd("kubectl", "config", "set-cluster", target.name, f"--server={target.server}")]
    if target.ca_data:
        key = f"clusters.{target.name}.certificate-authority-data"
        commands.append(_cmd("kubectl", "config", "set", key, target.ca_data))
    commands.append(credentials_command(user, login))
    context = ["kubectl", "config", "set-context", target.name, f"--cluster={target.name}"]
    context.append(f"--user={user}")
    if target.namespace:
        context.append(f"--namespace={target.namespace}")
    commands.append(_cmd(*context))
    commands.append(_cmd("kubectl", "config", "use-context", target.name))
    return commands
