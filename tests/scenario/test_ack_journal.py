"""`ENVBOT_ACK_JOURNAL` through the real app over HTTP: a journaled command is run once and
answered, its replay is acked alike and has no effect, what a killed process left in the journal
is run at start, a full or unusable journal falls back to the database path (never a 500), and a
database that refuses the journal's records for `REFUSE_AFTER` turns new requests away, and a
command that is only recorded is acked by the edge's lane, not Bolt's dispatch."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_bolt import BoltResponse
from slack_bolt.request import BoltRequest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment
from bot.demo.signing import sign
from bot.errors import TemporaryError
from bot.services import journal_ingest
from bot.services.inbound import delivery_key
from bot.services.journal import Journal
from bot.wiring import Runtime
from tests.scenario.conftest import SECRET, SlackClient, wait_for


def _envs(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return sorted(s.scalars(select(Environment.name)).all())


def _rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Environment)) or 0)


def test_a_journaled_command_runs_once_and_its_replay_has_no_effect(
    slack_http: SlackClient, runtime: Runtime, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    # setup
    runtime.app.intake.use_journal(Journal(tmp_path / "acks", 64 * 1024))
    body = slack_http.slash_body("alice", "/env", "create sandbox j1 --reason journal")
    headers = sign(SECRET, body)
    cursor = slack_http.mark()

    # execution: the command, then the same signed body again (a replay)
    first = slack_http.post(body, headers)
    replay = slack_http.post(body, headers)

    # validating: both acked alike (the ack cannot know yet); one environment, one answer
    assert (first.status_code, replay.status_code) == (200, 200)
    assert first.text == replay.text
    assert _envs(sessions) == ["j1"]
    assert wait_for(lambda: slack_http.ephemerals_since(cursor, "alice"), what="the answer")
    assert runtime.app.intake.inbox.pending() == 0
    journal = runtime.app.intake.journal
    assert journal is not None
    assert journal.journal.backlog() == 0


def test_what_a_killed_process_journaled_is_run_when_the_journal_is_opened(
    slack_http: SlackClient, runtime: Runtime, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    # setup: a request journaled (and acked) by a process that died before ingesting it
    path = tmp_path / "acks"
    command = dict(
        parse_qsl(slack_http.slash_body("alice", "/env", "create sandbox j2 --reason x"))
    )
    key = delivery_key(command)
    assert key is not None
    left = Journal(path, 64 * 1024)
    assert left.append(key, "command", command)
    left.close()

    # execution: the start (`serve` opens the journal before it serves)
    runtime.app.intake.use_journal(Journal(path, 64 * 1024))
    runtime.app.intake.wait_idle()

    # validating: run once; the same request sent again is a duplicate
    assert _envs(sessions) == ["j2"]
    assert slack_http.post(slack_http.slash_body("alice", "/env", "list")).status_code == 200
    journal = runtime.app.intake.journal
    assert journal is not None
    journal.journal.append(key, "command", command)
    journal.notify()
    runtime.app.intake.wait_idle()
    assert _rows(sessions) == 1


def test_a_full_or_closed_journal_falls_back_to_the_database(
    slack_http: SlackClient,
    runtime: Runtime,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # setup: a journal too small for any request
    caplog.set_level(logging.INFO, logger="handlers.intake")
    runtime.app.intake.use_journal(Journal(tmp_path / "acks", 128))

    # execution: one command while it is full, one after it was closed under the listener
    full = slack_http.command("alice", "/env", "create sandbox j3 --reason full")
    again = slack_http.command("bob", "/env", "create sandbox j5 --reason full")
    journal = runtime.app.intake.journal
    assert journal is not None
    journal.journal.close()
    closed = slack_http.command("alice", "/env", "create sandbox j4 --reason closed")

    # validating: both acked and run through the database path
    assert (full.status_code, again.status_code, closed.status_code) == (200, 200, 200)
    assert _envs(sessions) == ["j3", "j4", "j5"]
    said = [r.getMessage() for r in caplog.records]
    # once for the episode, not once per request
    assert said.count("the ack journal is full; recording the request in the database") == 1
    assert "could not journal a request; recording it in the database" in said


def test_a_database_that_refuses_the_journal_for_long_turns_new_requests_away(
    slack_http: SlackClient,
    runtime: Runtime,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # setup: the database refuses every pass; new requests are refused as soon as it has once
    monkeypatch.setattr(journal_ingest, "REFUSE_AFTER", 0.0)
    monkeypatch.setattr(journal_ingest, "RETRY", 0.05)
    runtime.app.intake.use_journal(Journal(tmp_path / "acks", 64 * 1024))
    journal = runtime.app.intake.journal
    assert journal is not None
    inbox = journal.inbox
    healthy = inbox.record_many

    def down(claims: object) -> set[str]:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(inbox, "record_many", down)

    # execution: one command journaled before the outage is seen, one after
    first = slack_http.command("alice", "/env", "create sandbox j6 --reason outage")
    wait_for(lambda: journal.outage() > 0, what="the ingester to see the outage")
    before = journal.journal.backlog()
    refused = slack_http.command("bob", "/env", "create sandbox j7 --reason outage")

    # validating: the second is answered at once with what happened and what to do, and is
    # not in the journal (nothing acked that a lost journal file could take with it)
    assert (first.status_code, refused.status_code) == (200, 200)
    assert "cannot write to its database" in refused.text
    assert "try again" in refused.text
    assert journal.journal.backlog() == before > 0

    # execution: the database is back
    monkeypatch.setattr(inbox, "record_many", healthy)

    # validating: the journaled command runs, and requests are journaled again
    wait_for(lambda: _envs(sessions) == ["j6"], what="the journaled command to run")
    assert wait_for(lambda: journal.outage() == 0, what="the outage to end")
    again = slack_http.command("bob", "/env", "create sandbox j8 --reason back")
    assert again.status_code == 200
    wait_for(lambda: _envs(sessions) == ["j6", "j8"], what="the next command to run")


def test_a_journaled_command_is_acked_by_the_edge_and_the_rest_by_the_listeners(
    slack_http: SlackClient,
    runtime: Runtime,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # setup: the journal on, and Bolt's dispatch counted
    runtime.app.intake.use_journal(Journal(tmp_path / "acks", 64 * 1024))
    dispatched: list[str] = []
    bolt = runtime.app.dispatch

    def counted(request: BoltRequest) -> BoltResponse:
        dispatched.append(str(request.body.get("text") or request.body.get("type")))
        return bolt(request)

    monkeypatch.setattr(runtime.app, "dispatch", counted)

    # execution: a command recorded and handed on, one that does not parse, one that opens a form
    created = slack_http.command("alice", "/env", "create sandbox j9 --reason lane")
    garbled = slack_http.command("alice", "/env", "frobnicate")
    form = slack_http.command("alice", "/access", "request")

    # validating: the first was acked without Bolt (and runs); the others went to its listeners
    assert (created.status_code, created.text) == (200, "")
    wait_for(lambda: _envs(sessions) == ["j9"], what="the command acked by the edge to run")
    assert (garbled.status_code, form.status_code) == (200, 200)
    assert "frobnicate" in garbled.text
    assert dispatched == ["frobnicate", "request"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.sampled_from(["/env", "/access", "/other"]),
    text=st.text(max_size=60)
    | st.tuples(
        st.sampled_from(["list", "help", "create sandbox", "request sandbox view 1h", "extend"]),
        st.text(max_size=30),
    ).map(" ".join),
)
def test_fuzzed_commands_through_the_lane_never_crash(
    slack_http: SlackClient,
    runtime: Runtime,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    command: str,
    text: str,
) -> None:
    # setup: the journal on (once for the test's examples), so recorded commands take the lane
    if runtime.app.intake.journal is None:
        runtime.app.intake.use_journal(Journal(tmp_path / "acks", 1024 * 1024))
    caplog.clear()

    # execution: any text, after every check of the edge (signed, from the workspace)
    response = slack_http.command("alice", command, text)

    # validating: answered (an ack, a parse error, a form, or Bolt's 404 for an unknown
    # command), its work run, and nothing logged as a crash
    assert response.status_code < 500, (response.status_code, command, text)
    assert [
        r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ] == []


def test_a_command_the_lane_cannot_record_is_answered_as_the_error_handler_answers(
    slack_http: SlackClient, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: the journal on, and a record that fails as a database outage does
    intake = runtime.app.intake
    intake.use_journal(Journal(tmp_path / "acks", 64 * 1024))

    def fails(kind: str, key: str, body: object) -> None:
        raise TemporaryError("envbot cannot write to its database, so this was not recorded.")

    monkeypatch.setattr(intake, "take", fails)

    # execution
    response = slack_http.command("alice", "/env", "create sandbox j10 --reason lane")

    # validating: a 200 whose body Slack shows the user privately, with what to do next
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "response_type": "ephemeral",
        "text": "envbot cannot write to its database, so this was not recorded. "
        "Please try again in a minute.",
    }
