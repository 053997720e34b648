"""The policy's `identity` section: how a Slack user's email becomes a Kubernetes user name."""

from __future__ import annotations

from bot.policy.base import PolicyModel


class Identity(PolicyModel):
    """User names as the IdP gives them; Kubernetes and dex compare them case-sensitively."""

    # true when the IdP lower-cases the email claim (dex passes on what the connector sends)
    lowercase_email: bool = False

    def subject(self, email: str) -> str:
        """The user name envbot writes into bindings and VirtualGroups for `email`."""
        return email.lower() if self.lowercase_email else email
