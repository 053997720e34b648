"""Block Kit for "how do I reach this cluster with kubectl": kubelogin commands or the token page.

With `management.oidc.kubelogin_client_id` set, the user gets commands to paste (cluster, CA,
kubelogin exec user, context) in a markdown block, which Slack allows 12,000 characters, so a CA
bundle fits where a 3,000-character section would cut it. Without it, or without a server to
point at, only DKP's Generate Token page. Never a credential: kubelogin signs in in the browser.
"""

from __future__ import annotations

from dataclasses import replace

from slack_sdk.models.blocks import Block, MarkdownBlock

from bot.domain.kubectl import Login, Target, credentials_command, kubectl_commands
from bot.policy import Management
from bot.slack.blocks import section

MARKDOWN_LIMIT = 12000
_INSTALL = "kubelogin (`kubectl krew install oidc-login`, or `brew install kubelogin`)"


def login(mgmt: Management) -> Login | None:
    """How kubelogin signs in, or None when the policy names no public client for it."""
    client = mgmt.oidc.kubelogin_client_id
    if client is None:
        return None
    return Login(issuer=mgmt.issuer_url, client_id=client, audience=mgmt.oidc.client_id)


def token_page(mgmt: Management, name: str) -> str:
    """The one-line pointer to DKP's Generate Token page."""
    return (
        f"Get kubectl credentials for *{name}* from DKP's Generate Token page: {mgmt.token_url} "
        "(sign in, pick the cluster, run the commands it shows)."
    )


def kubectl_blocks(mgmt: Management, target: Target, intro: str) -> list[Block]:
    """The intro, then the commands that set up kubectl for `target`, or the token page."""
    how = login(mgmt)
    if how is None or not target.server:
        return [section(f"{intro}\n{token_page(mgmt, target.name)}")]
    notes = [
        f"Set up kubectl with {_INSTALL}: paste these commands. On first use kubectl opens "
        "your browser to sign in to dex.",
    ]
    code = _fenced(kubectl_commands(target, how))
    if target.ca_data and len(code) > MARKDOWN_LIMIT:
        code = _fenced(kubectl_commands(replace(target, ca_data=""), how))
        notes.append(
            "The cluster's CA bundle is too long for Slack, so it is left out: take it from "
            f"the Generate Token page ({mgmt.token_url})."
        )
    elif not target.ca_data:
        notes.append("No CA is configured for this server: kubectl trusts your system's CAs.")
    notes.append(f"Or use DKP's Generate Token page: {mgmt.token_url}")
    tail = section("\n".join(notes[1:]))
    return [section(f"{intro}\n{notes[0]}"), MarkdownBlock(text=code), tail]


def credentials_blocks(mgmt: Management, user: str, intro: str) -> list[Block]:
    """Just the kubelogin user (for grants spanning several clusters), or the token page."""
    how = login(mgmt)
    if how is None:
        return [section(f"{intro}\n{token_page(mgmt, 'your cluster')}")]
    return [
        section(f"{intro}\nAdd a kubectl user that signs in through dex with {_INSTALL}:"),
        MarkdownBlock(text=_fenced([credentials_command(user, how)])),
        section(
            f"Then point a context at each cluster with `--user={user}`; the cluster's server "
            f"and CA are on DKP's Generate Token page: {mgmt.token_url}"
        ),
    ]


def _fenced(commands: list[str]) -> str:
    return "```\n" + "\n".join(commands) + "\n```"
