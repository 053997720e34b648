"""`envbot demo`: the real app, services and jobs on SQLite, the fake Slack and fake backends,
driven by lines typed at a prompt or read from a tour script (see DESIGN.md, "How it runs")."""

from __future__ import annotations

import json
import random
import re
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy import func, select

from bot.db import migrate
from bot.db.models import OutboxMessage, seed_ids
from bot.demo.buttons import click_payload, find_button
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_limits import RateLimits
from bot.demo.feed import FeedPrinter
from bot.demo.forms import form_values
from bot.demo.signing import event_body, interaction_body, sign, slash_body
from bot.domain.clock import ManualClock
from bot.domain.durations import DurationError, parse_duration
from bot.policy import Policy
from bot.settings import JobSettings
from bot.slack.directory import SlackDirectory
from bot.wiring import Runtime, build_runtime
from handlers.gate import label
from provisioning.cloud import PerWorkspaceCloud
from provisioning.fake import FakeAccessBackend, FakeEnvironmentBackend
from provisioning.fake_cloud import FakeCloud

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECRET = "demo-signing-secret"  # noqa: S105 - the demo signs its own requests
DEMO_JOBS = JobSettings(
    outbox_interval=60, reconcile_interval=60, expiry_interval=60, reminder_interval=60
)


class ParseError(ValueError):
    """A line the demo cannot read."""


class Demo:
    """One demo world: clock, fake Slack, database, runtime, and the current user."""

    def __init__(
        self,
        policy: Policy,
        workdir: Path,
        out: TextIO,
        jobs: JobSettings = DEMO_JOBS,
        database: Path | None = None,
    ) -> None:
        """`database`: the SQLite file to use (default: one in `workdir`)."""
        self.out = out
        self.policy = policy
        self.clock = ManualClock(START)
        seed_ids(random.Random(2026))  # noqa: S311 - readable, repeatable ids for tours
        # Slack's chat.postMessage limits (1/s per conversation, a burst of 2), on the demo clock
        self.slack = FakeSlack(now=self.clock.now, rate_limits=RateLimits()).start()
        url = f"sqlite:///{(database or workdir / 'envbot.db').resolve()}"
        migrate.upgrade(url, install_id="demo", now=START)  # one id, one time: tours repeat
        client = self.slack.web_client()
        self.env_backend = FakeEnvironmentBackend(self.clock)
        self.access_backend = FakeAccessBackend()
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
            access_backends={
                "fake": self.access_backend,
                "kommander": self.access_backend,
                "rbac": self.access_backend,
            },
            cloud=PerWorkspaceCloud({name: FakeCloud() for name in policy.workspaces}),
            default_channel="#platform",
            job_settings=jobs,
            process_before_response=True,
        )
        self.user = self.slack.user_id("alice")
        self.feed = FeedPrinter(self.slack, self._name)
        self.echo = True  # print each line as `> line` (a terminal already shows what was typed)
        self.cursor = 0
        self.output: list[str] = []
        self.failures = 0
        self._events = 0

    def close(self) -> None:
        self.runtime.close()
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
        if self.echo:
            self.out.write(f"> {stripped}\n")
        self.feed.interrupt()
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
            self._deactivate(rest)
        elif word == "home":
            self._event({"type": "app_home_opened", "user": self.user, "tab": "home"})
        elif word == "submit":
            self._submit(rest)
        else:
            raise ParseError(f'unknown line "{stripped}"')
        self.runtime.jobs.run_all()
        self._settle()
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
        ack = self._dispatch(body)
        if ack.status == 200:  # Slack shows the ack body (the answer, when it was quick)
            self.slack.show_ack_body(channel, self.user, ack.body)

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
        label, ref = words[0], (words[1] if len(words) > 1 else "")
        found = find_button(self.slack, self.user, label, ref)
        if found is None:
            self.out.write(f'  (no button "{words[0]}" visible to @{self._name(self.user)})\n')
            return
        payload = click_payload(self.slack, self.user, found, self._action_ts())
        self._dispatch(interaction_body(payload))

    def _action_ts(self) -> str:
        """Like Slack's: unique per click (a second click is a new action, not a retry)."""
        self._events += 1
        return f"{int(self.clock.now().timestamp())}.{self._events:06d}"

    def _submit(self, rest: str) -> None:
        try:
            pairs = [w.partition("=") for w in shlex.split(rest)]
        except ValueError as exc:
            raise ParseError(str(exc)) from None
        if any(not sep for _, sep, _ in pairs):
            raise ParseError("submit takes field=value pairs")
        given = {k: v for k, _, v in pairs}
        modals = self.slack.open_modals(self.user)
        if not modals:
            self.out.write(f"  (no form is open for @{self._name(self.user)})\n")
            return
        view = modals[-1]
        values, fields = form_values(view.view.get("blocks", []), given)
        unknown = set(given) - fields
        if unknown:
            raise ParseError(
                f"the form has no field {', '.join(sorted(unknown))} "
                f"(fields: {', '.join(sorted(fields))})"
            )
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": "T0ENVBOT"},
            "user": {"id": self.user, "name": self._name(self.user)},
            "api_app_id": "A0ENVBOT",
            "trigger_id": self.slack.new_trigger_id(self.user),
            "view": {**view.to_api(), "state": {"values": values}},
        }
        resp = self._dispatch(interaction_body(payload))
        answer = json.loads(resp.body) if resp.body else {}
        if answer.get("response_action") == "errors":
            for field, error in answer.get("errors", {}).items():
                self.out.write(f"modal @{self._name(self.user)}: {field}: {error}\n")
                self.output.append(f"modal @{self._name(self.user)}: {field}: {error}")
            return
        self.slack.close_view(view.id)

    def _deactivate(self, rest: str) -> None:
        user_id = self._user(rest)
        user = self.slack.deactivate_user(user_id)
        event = {
            "type": "user_change",
            "user": {"id": user.id, "name": user.name, "deleted": True, "tz": user.tz},
        }
        self._event(event)

    def _event(self, event: dict[str, Any]) -> None:
        self._events += 1
        now = int(self.clock.now().timestamp())
        body = event_body(event, f"Ev{self._events:08d}", now)
        self._dispatch(body, content_type="application/json")

    def _dispatch(
        self, body: str, content_type: str = "application/x-www-form-urlencoded"
    ) -> BoltResponse:
        headers: dict[str, str | Sequence[str]] = dict(
            sign(SECRET, body, content_type=content_type)
        )
        resp = self.runtime.app.dispatch(label(BoltRequest(body=body, headers=headers)))
        if resp.status >= 400:
            self.out.write(f"  (Slack would show an error: HTTP {resp.status})\n")
        return resp

    def _settle(self, within: timedelta = timedelta(seconds=30)) -> None:
        """Let rate-limited messages go: move the clock to each one's due time, a few
        seconds at most, so a line's output is complete before the next line runs."""
        deadline = self.clock.now() + within
        while True:
            with self.runtime.services.sessions() as s:
                due = s.scalar(
                    select(func.min(OutboxMessage.due_at)).where(OutboxMessage.status == "pending")
                )
            if due is None or due > deadline:
                return
            if due > self.clock.now():
                self.clock.set(due)
            if not self.runtime.drain.drain() and due <= self.clock.now():
                return

    # -- output -----------------------------------------------------------------------------

    def _flush(self) -> None:
        deliveries, self.cursor = self.slack.deliveries_since(self.cursor)
        for text in self.feed.lines(deliveries):
            self.output.append(text)
            self.out.write(text + "\n")

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
