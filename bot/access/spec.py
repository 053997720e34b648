"""The access backends' port: what a backend is told about one grant."""

from __future__ import annotations

from bot.db.models import AccessRequest
from bot.policy import Policy
from provisioning.base import GrantSpec


def grant_spec(req: AccessRequest, policy: Policy, install_id: str = "") -> GrantSpec:
    """The backend's view of a grant, from its row, its workspace's role and this install."""
    ws = policy.workspaces.get(req.workspace)
    role = ws.roles.get(req.role) if ws else None
    view = policy.management.global_view
    kommander = ws is not None and ws.access_backend == "kommander"
    return GrantSpec(
        grant_id=req.id,
        subject=policy.identity.subject(req.subject),
        workspace=req.workspace,
        namespace=(ws.namespace or "") if ws else "",
        role=req.role,
        expires_at=req.expires_at or req.created_at,
        workspace_role=(role.workspace_role or "") if role else "",
        kommander_role=(role.kommander_role or "") if role else "",
        cluster_role=(role.cluster_role or "") if role else "",
        cluster_ref=(ws.cluster or "") if ws else "",
        global_cluster_role=view.cluster_role if (view and kommander) else "",
        global_kommander_role=view.kommander_cluster_role if (view and kommander) else "",
        install_id=install_id,
    )
