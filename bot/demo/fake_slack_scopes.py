"""The OAuth scopes each fake Slack method needs, as Slack documents them, and the default grant.

A call whose token lacks the scope gets Slack's answer: `missing_scope` with `needed` and
`provided`. History and replies need the scope of the conversation's type (`channels:history`
for a public channel, `im:history` for a DM); conversations.list needs `channels:read` for
public channels and `groups:read` for private ones.
"""

from __future__ import annotations

from bot.demo.fake_slack_params import Params

#: The bot scopes of manifest.yaml (a unit test keeps the two equal).
MANIFEST_SCOPES = frozenset(
    {
        "commands",
        "chat:write",
        "im:write",
        "users:read",
        "users:read.email",
        "usergroups:read",
        "channels:read",
        "groups:read",
        "channels:history",
        "groups:history",
        "im:history",
    }
)

_FIXED = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "usergroups.list": "usergroups:read",
    "usergroups.users.list": "usergroups:read",
}
_HISTORY = {"C": "channels:history", "G": "groups:history", "D": "im:history"}
_LIST = {
    "public_channel": "channels:read",
    "private_channel": "groups:read",
    "im": "im:read",
    "mpim": "mpim:read",
}


def needed_scopes(method: str, params: Params) -> list[str]:
    """The scopes `method` needs for these arguments (auth.test and views.* need none)."""
    if method in _FIXED:
        return [_FIXED[method]]
    if method in ("conversations.history", "conversations.replies"):
        channel = str(params.get("channel") or "")
        return [_HISTORY.get(channel[:1], "channels:history")]
    if method == "conversations.list":
        types = str(params.get("types") or "public_channel").split(",")
        return [_LIST[t] for t in types if t in _LIST]
    return []
