"""kill -9 of a real `envbot serve` at a chosen point, a restart on the same database and a
replay of the same signed request: nothing lost, nothing doubled, nothing stuck, no replay run.

Every point once (SQLite, and PostgreSQL when ENVBOT_TEST_DATABASE_URL is set): after a
command's ack and before its work wrote anything, between Slack's accept of the card and the
commit, while the fake API server holds the Cluster write, right after an Approve click's ack,
while it holds an approved grant's first write, and (PostgreSQL only) after a command's effect
committed and before its answer did (the user must get the fallback answer, once). Many runs
of each: `bench/crash_matrix.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from handlers.fallback import MARK as FALLBACK_MARK
from tests.integration.crash_world import POINTS, POSTGRES_ONLY, crash_world, run_point


@pytest.mark.parametrize("point", POINTS)
def test_kill_9_then_restart_loses_doubles_and_replays_nothing(
    point: str, database_url: str, engine: Engine, tmp_path: Path
) -> None:
    if point in POSTGRES_ONLY and engine.dialect.name != "postgresql":
        pytest.skip(f"{point} holds a PostgreSQL row lock (runs with ENVBOT_TEST_DATABASE_URL)")
    # setup: the demo world and a serve on an empty database; the point's hold is armed
    with crash_world(database_url, engine, tmp_path) as crash:
        # execution: crash at the point, restart, replay the request, run jobs until quiet
        # (every send must get a 200, from the killed serve and from the restarted one)
        outcome = run_point(crash, point)
        logs = "\n".join(serve.log() for serve in crash.serves)
        # validating: the crash did happen where it was meant to (the held call was reached;
        # approve-ack has no hold: the kill follows the click's 200) ...
        if point not in ("approve-ack", "answer-held"):  # answer-held checks its own point
            assert crash.slack_hold.reached.is_set() or crash.kube_hold.reached.is_set()
        # ... and every card, thread reply and DM is in Slack exactly once, the environment
        # is READY or the grant ACTIVE, nothing is left unsent, and the replay had no effect
        assert outcome.messages >= 2, outcome.detail  # at least the card or DM and its answer
        assert (outcome.lost, outcome.doubled, outcome.stuck) == (0, 0, 0), outcome.detail
        assert outcome.replays == 0, outcome.detail
        assert "Traceback" not in logs, logs
        if point == "command-ack":
            # the killed worker had written nothing: the restarted serve said it ran the row
            # again, and the user was answered at the command's response_url
            answers = [c for c in crash.slack.calls_to("response_url") if "sandbox" in str(c)]
            assert answers, outcome.detail
            # ... by the real answer, which withdrew the fallback queued with the effect
            assert not [a for a in answers if FALLBACK_MARK in str(a)], outcome.detail
            assert "running an inbox row again" in crash.serves[-1].log()


def test_command_ack_with_the_ack_journal_loses_doubles_and_replays_nothing(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    # setup: the serves journal their acks (ENVBOT_ACK_JOURNAL, one file across the restart)
    with crash_world(database_url, engine, tmp_path) as crash:
        crash.settings["ENVBOT_ACK_JOURNAL"] = str(tmp_path / "acks")

        # execution: killed after the ack, while the worker waits for users.info; restarted
        outcome = run_point(crash, "command-ack")
        logs = "\n".join(serve.log() for serve in crash.serves)

        # validating: as without the journal; the restarted serve ran the row again
        assert (outcome.lost, outcome.doubled, outcome.stuck) == (0, 0, 0), outcome.detail
        assert outcome.replays == 0, outcome.detail
        assert "Traceback" not in logs, logs
        assert "running an inbox row again" in crash.serves[-1].log()
        assert all("acks are journaled to" in serve.log() for serve in crash.serves), logs
