"""The cloud half of the name check an environment's job makes before its first create: is a
cluster of that name already in the cloud account, tagged by someone who is not this environment?

TODO(provisioning/aws): implement `CloudNames.foreign_holder` on the boto3 cleaner with the
Resource Groups Tagging API (tag key `kubernetes.io/cluster/<name>`; ours carry the env-id and
install-id tags). Until a cleaner implements it, only the Kubernetes side is checked (a Cluster
of that name in the workspace namespace, a namespace of that name on the target cluster).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class CloudNames(Protocol):
    """Answers whether a cluster name is taken in the cloud account of a workspace."""

    def foreign_holder(
        self, cluster_name: str, workspace: str, env_id: str, install_id: str
    ) -> str:
        """Describe a resource tagged `kubernetes.io/cluster/<cluster_name>` that does not carry
        this environment's env-id and install-id tags; "" when there is none.

        Raises:
            TemporaryError: the cloud API could not be reached; ask again later.
            PermanentError: the credentials or the role are refused.
        """
        ...
