"""Builds the backends by name, as explicit dicts the composition root picks from (the policy's
template `kind` and access `backend` keys name an entry)."""

from __future__ import annotations

from bot.domain.clock import Clock
from provisioning.base import AccessBackend, EnvironmentBackend
from provisioning.fake import FakeAccessBackend, FakeEnvironmentBackend
from provisioning.kube.capi import CapiBackend
from provisioning.kube.client import KubeClients
from provisioning.kube.kommander import KommanderAccessBackend
from provisioning.kube.namespace import NamespaceBackend
from provisioning.kube.rbac import RbacAccessBackend


def build_environment_backends(
    clock: Clock,
    clients: KubeClients | None = None,
    *,
    capi_version: str = "v1beta1",
    fake: FakeEnvironmentBackend | None = None,
) -> dict[str, EnvironmentBackend]:
    """Environment backends keyed `capi`, `namespace` and `fake`.

    Args:
        clock: the clock the fake backend ripens on (and CAPI measures drift grace with).
        clients: Kubernetes clients; without them only `fake` is built (the demo).
        capi_version: the Cluster API version `capi` writes (see `provisioning.kube.capi`).
        fake: a pre-built fake to register, so a test or the demo can keep its hooks.
    """
    backends: dict[str, EnvironmentBackend] = {"fake": fake or FakeEnvironmentBackend(clock)}
    if clients is not None:
        backends["capi"] = CapiBackend(clients, api_version=capi_version, clock=clock)
        backends["namespace"] = NamespaceBackend(clients)
    return backends


def build_access_backends(
    clients: KubeClients | None = None, *, fake: FakeAccessBackend | None = None
) -> dict[str, AccessBackend]:
    """Access backends keyed `kommander`, `rbac` and `fake`.

    Args:
        clients: Kubernetes clients; without them only `fake` is built (the demo).
        fake: a pre-built fake to register, so a test or the demo can keep its hooks.
    """
    backends: dict[str, AccessBackend] = {"fake": fake or FakeAccessBackend()}
    if clients is not None:
        backends["kommander"] = KommanderAccessBackend(clients)
        backends["rbac"] = RbacAccessBackend(clients)
    return backends
