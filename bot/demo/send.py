"""`envbot demo send`: one slash command, signed as Slack signs it, to a running demo world."""

from __future__ import annotations

import json
import os
import re
import shlex
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from bot.demo.invocation import INVOCATION
from bot.demo.signing import interaction_body, sign, slash_body

WORLD_VARIABLE = "ENVBOT_DEMO_WORLD"


class SendError(Exception):
    """Something the user can fix: the message says what."""


def load_world(path: str | None) -> dict[str, Any]:
    """The world file `envbot demo --serve` printed (`--world`, or $ENVBOT_DEMO_WORLD)."""
    where = path or os.environ.get(WORLD_VARIABLE)
    if not where:
        raise SendError(
            f"no world: pass --world FILE or set {WORLD_VARIABLE} (envbot demo --serve prints both)"
        )
    try:
        world: dict[str, Any] = json.loads(Path(where).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SendError(f"cannot read the world file {where}: {exc}") from None
    return world


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except urllib.error.URLError as exc:
        raise SendError(
            f"{url} does not answer ({exc.reason}): is envbot demo --serve running?"
        ) from None


def _invocation(world: dict[str, Any], user: str, channel: str, **more: str) -> dict[str, Any]:
    """A fresh trigger_id and response_url from the fake Slack, as Slack mints per command
    (with `click=`, the payload of a click on the newest such button instead)."""
    params = json.dumps({"user": user, "channel": channel, **more}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {world['bot_token']}"}
    _, text = _post(world["slack_api_url"] + INVOCATION, params, headers)
    answer: dict[str, Any] = json.loads(text)
    if not answer.get("ok"):
        raise SendError(f"the fake Slack refused: {answer.get('error')} {answer.get('detail', '')}")
    return answer


def send(line: str, world: dict[str, Any], user: str, channel: str, out: TextIO) -> int:
    """Send `/env …`, `/access …` or `click LABEL [TEXT]` as `user`; print the HTTP answer."""
    command, _, text = line.strip().partition(" ")
    if command == "click":
        return _click(text, world, user, out)
    if command not in ("/env", "/access"):
        raise SendError(f'"{line}" is not something to send: start it with /env, /access or click')
    call = _invocation(world, user.lstrip("@"), channel.lstrip("#"))
    users: dict[str, str] = call["users"]
    escaped = re.sub(
        r"(?<![<\w])@([a-z][a-z0-9._-]*)",
        lambda m: f"<@{users[m[1]]}|{m[1]}>" if m[1] in users else m[0],
        text,
    )
    body = slash_body(
        command,
        escaped,
        user_id=call["user_id"],
        user_name=call["user_name"],
        channel_id=call["channel_id"],
        response_url=call["response_url"],
        trigger_id=call["trigger_id"],
        team_id=world["team_id"],
    )
    code, answer = _deliver(world, body, f"{command} {text}".strip(), call["user_name"], out)
    if code == 0 and answer.strip():  # Slack shows the ack body to the user, as an ephemeral
        _invocation(world, user.lstrip("@"), channel.lstrip("#"), ack_body=answer)
    return code


def _click(text: str, world: dict[str, Any], user: str, out: TextIO) -> int:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise SendError(f"click {text}: {exc}") from None
    if not words:
        raise SendError('click needs a button label, e.g. click approve "p1"')
    ref = words[1] if len(words) > 1 else ""
    call = _invocation(world, user.lstrip("@"), "platform", click=words[0], ref=ref)
    payload = call["payload"]
    code, _ = _deliver(
        world, interaction_body(payload), f"click {text}", payload["user"]["name"], out
    )
    return code


def _deliver(
    world: dict[str, Any], body: str, shown: str, user_name: str, out: TextIO
) -> tuple[int, str]:
    """POST a signed body to the world's /slack/events; (exit code, the HTTP answer's body)."""
    headers = sign(world["signing_secret"], body, int(time.time()))
    status, answer = _post(world["events_url"], body.encode(), headers)
    out.write(f"{shown} as @{user_name}: HTTP {status} {answer}\n".replace(" \n", "\n"))
    return (0 if status < 400 else 1), answer
