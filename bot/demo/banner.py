"""What the interactive demo says first (who you are, who else is there) and what `help` says."""

from __future__ import annotations

from typing import Any

from bot.demo.console import START, Demo
from bot.demo.fake_slack_workspace import CHANNEL_IDS, USER_IDS

HELP = """\
Lines (one per prompt; the same lines make a tour script for `envbot demo --script FILE`):
  /env ...  /access ...       a slash command as the current user, e.g. /env create sandbox
  as @bob                     become another demo user
  click LABEL ["TEXT"]        press the newest button whose label starts with LABEL
                              (on a message that mentions TEXT), e.g. click approve dev-1
  submit field=value ...      submit the form that is open, e.g. submit reason="try it"
  home                        open the bot's App Home tab
  wait 2h                     move the clock on; the jobs run as they fall due
  deactivate @bob             deactivate a user in Slack (the bot is told)
  expect TEXT / expect-not TEXT   check what the last line printed (for tours)
  # ...                       a comment
  help                        this text
  quit                        leave (so does Ctrl-D)
Try: /env help, /env create sandbox, then as @bob and /access request sandbox view.
"""


def banner(demo: Demo) -> str:
    """Who you are, the users (and their groups), the channels, the templates, and the clock."""
    groups: dict[str, list[str]] = {}
    answer: Any = demo.slack.web_client().usergroups_list(include_users=True)
    for group in answer.get("usergroups", []):
        for member in group.get("users", []):
            groups.setdefault(member, []).append("@" + group["handle"])
    users = [
        f"  @{name:<6} {', '.join(groups.get(uid, [])) or '-'}" for name, uid in USER_IDS.items()
    ]
    templates = ", ".join(sorted(demo.policy.templates))
    return "\n".join(
        [
            "envbot demo: the real bot on a fake Slack and fake backends (nothing leaves this",
            f"machine). The clock starts at {START:%Y-%m-%d %H:%M} UTC and moves only with `wait`.",
            f"You are @{demo.slack.user(demo.user).name}; users and their groups:",
            *users,
            f"Channels: {', '.join('#' + c for c in CHANNEL_IDS)}",
            f"Templates: {templates}",
            "Type help for the line syntax, quit to leave.",
            "",
        ]
    )
