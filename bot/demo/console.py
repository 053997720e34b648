"""`envbot demo`: the real app, services and jobs on SQLite, the fake Slack and fake backends,
driven by lines typed at a prompt or read from a tour script (see DESIGN.md, "How it runs")."""

from __future__ import annotations

import re
import shlex
import sys
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from slack_bolt.request import BoltRequest

from bot.db import migrate
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_store import Delivery, DeliveryKind, Message
from bot.demo.render_text import render_delivery
from bot.demo.signing import interaction_body, sign, slash_body
from bot.domain.clock import ManualClock
from bot.domain.durations import DurationError, parse_duration
from bot.policy import Policy, load_policy
from bot.settings import JobSettings
from bot.slack_directory import SlackDirectory
from bot.wiring import Runtime, build_runtime
from provisioning.fake import FakeEnvironmentBackend

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECRET = "demo-signing-secret"  # noqa: S105 - the demo signs its own requests
DEMO_JOBS = JobSettings(outbox_interval=60, reconcile_interval=60, expiry_interval=60)
EXIT_OK, EXIT_EXPECT_FAILED, EXIT_PARSE_ERROR = 0, 1, 2


class ParseError(ValueError):
    """A line the demo cannot read."""


class Demo:
    """One demo world: clock, fake Slack, database, runtime, and the current user."""

    def __init__(self, policy: Policy, workdir: Path, out: TextIO) -> None:
        self.out = out
        self.clock = ManualClock(START)
        self.slack = FakeSlack(now=self.clock.now).start()
        url = f"sqlite:///{workdir / 'envbot.db'}"
        migrate.upgrade(url)
        client = self.slack.web_client()
        self.env_backend = FakeEnvironmentBackend(self.clock)
        self.runtime: Runtime = build_runtime(
            policy=policy,
            database_url=url,
            client=client,
            directory=SlackDirectory(client, ttl=0),
            signing_secret=SECRET,
            clock=self.clock,
            env_backends={
                "fake": self.env_backend,
                "capi": self.env_backend,
                "namespace": self.env_backend,
            },
            default_channel="#platform",
            job_settings=DEMO_JOBS,
            process_before_response=True,
        )
        self.user = self.slack.user_id("alice")
        self.cursor = 0
        self.output: list[str] = []
        self.failures = 0

    def close(self) -> None:
        self.runtime.engine.dispose()
        self.slack.stop()

    # -- lines ------------------------------------------------------------------------------

    def run_line(self, line: str) -> None:
        """Run one line; raises ParseError for a line that is not in the language."""
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return
        word, _, rest = stripped.partition(" ")
        if word == "expect" or word == "expect-not":
            self._expect(rest.strip(), negate=word == "expect-not")
            return
        self.out.write(f"> {stripped}\n")
        self.output = []
        if word == "as":
            self.user = self._user(rest)
        elif word in ("/env", "/access"):
            self._slash(word, rest)
        elif word == "click":
            self._click(rest)
        elif word == "wait":
            try:
                delta = parse_duration(rest)
            except DurationError as exc:
                raise ParseError(str(exc)) from None
            self.runtime.jobs.advance(self.clock, delta)
        elif word == "deactivate":
            raise ParseError("deactivate is not available yet in this version of envbot")
        elif word == "submit":
            raise ParseError("no modal is open (modals arrive with /access request)")
        else:
            raise ParseError(f'unknown line "{stripped}"')
        self.runtime.jobs.run_all()
        self._flush()

    def _user(self, ref: str) -> str:
        name = ref.strip().lstrip("@")
        try:
            return self.slack.user_id(name)
        except KeyError:
            raise ParseError(f'no demo user "{ref.strip()}" (alice, bob, carol, dave)') from None

    def _slash(self, command: str, text: str) -> None:
        channel = self.slack.channel_id("platform")
        escaped = re.sub(r"(?<![<\w])@([a-z][a-z0-9._-]*)", self._escape_mention, text)
        body = slash_body(
            command,
            escaped,
            user_id=self.user,
            user_name=self.slack.user(self.user).name,
            channel_id=channel,
            response_url=self.slack.new_response_url(channel, self.user),
            trigger_id=self.slack.new_trigger_id(self.user),
        )
        self._dispatch(body)

    def _escape_mention(self, match: re.Match[str]) -> str:
        try:
            return f"<@{self.slack.user_id(match.group(1))}|{match.group(1)}>"
        except KeyError:
            return match.group(0)

    def _click(self, rest: str) -> None:
        try:
            words = shlex.split(rest)
        except ValueError as exc:
            raise ParseError(str(exc)) from None
        if not words:
            raise ParseError("click needs a button label")
        label, ref = words[0].lower(), (words[1] if len(words) > 1 else "")
        found = self._find_button(label, ref)
        if found is None:
            self.out.write(f'  (no button "{words[0]}" visible to @{self._name(self.user)})\n')
            return
        msg, block_id, element = found
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": "T0ENVBOT"},
            "user": {"id": self.user, "name": self._name(self.user)},
            "api_app_id": "A0ENVBOT",
            "trigger_id": self.slack.new_trigger_id(self.user),
            "container": {"type": "message", "message_ts": msg.ts, "channel_id": msg.channel},
            "channel": {"id": msg.channel},
            "message": msg.to_api(),
            "response_url": self.slack.new_response_url(msg.channel, self.user, msg.ts),
            "actions": [
                {
                    "type": "button",
                    "action_id": element["action_id"],
                    "block_id": block_id,
                    "value": element.get("value", ""),
                    "text": element["text"],
                    "action_ts": f"{self.clock.now().timestamp()}",
                }
            ],
        }
        self._dispatch(interaction_body(payload))

    def _find_button(self, label: str, ref: str) -> tuple[Message, str, dict[str, Any]] | None:
        for msg in reversed(self.slack.visible_messages(self.user)):
            if ref and ref not in str(msg.blocks) and ref not in msg.text:
                continue
            for block in reversed(msg.blocks):
                if block.get("type") != "actions":
                    continue
                for element in block.get("elements", []):
                    text = str(element.get("text", {}).get("text", "")).lower()
                    if element.get("type") == "button" and text.startswith(label):
                        return msg, str(block.get("block_id", "")), element
        return None

    def _dispatch(self, body: str) -> None:
        headers: dict[str, str | Sequence[str]] = dict(sign(SECRET, body))
        resp = self.runtime.app.dispatch(BoltRequest(body=body, headers=headers))
        if resp.status >= 400:
            self.out.write(f"  (Slack would show an error: HTTP {resp.status})\n")

    # -- output -----------------------------------------------------------------------------

    def _flush(self) -> None:
        deliveries, self.cursor = self.slack.deliveries_since(self.cursor)
        for d in deliveries:
            if self._shown(d):
                text = render_delivery(d, self._name)
                self.output.append(text)
                self.out.write(text + "\n")

    @staticmethod
    def _shown(d: Delivery) -> bool:
        return d.kind not in (DeliveryKind.DELETE, DeliveryKind.HOME)

    def _name(self, user_id: str) -> str:
        try:
            return self.slack.user(user_id).name
        except KeyError:
            return user_id

    def _expect(self, text: str, *, negate: bool) -> None:
        want = text.strip().strip('"').lower()
        seen = "\n".join(self.output).lower()
        ok = (want not in seen) if negate else (want in seen)
        verb = "expect-not" if negate else "expect"
        if not ok:
            self.failures += 1
            self.out.write(f"FAILED {verb} {text}\n")


def run_script(lines: Iterable[str], policy_path: Path, out: TextIO) -> int:
    """Run a tour; returns the exit code (0 ok, 1 an expect failed, 2 a line did not parse)."""
    policy = load_policy(policy_path)
    with tempfile.TemporaryDirectory(prefix="envbot-demo-") as tmp:
        demo = Demo(policy, Path(tmp), out)
        try:
            for number, line in enumerate(lines, start=1):
                try:
                    demo.run_line(line)
                except ParseError as exc:
                    out.write(f"line {number}: {exc}\n")
                    return EXIT_PARSE_ERROR
        finally:
            demo.close()
    if demo.failures:
        out.write(f"{demo.failures} expectation(s) failed\n")
        return EXIT_EXPECT_FAILED
    return EXIT_OK


def interactive(policy_path: Path, out: TextIO = sys.stdout) -> int:
    """A prompt: type lines, see what the bot sends; Ctrl-D ends."""

    def prompt() -> Iterable[str]:
        while True:
            try:
                yield input("envbot> ")
            except EOFError:
                return

    return run_script(prompt(), policy_path, out)
