"""kill -9 of a real `envbot serve` at a chosen point, a restart on the same database and a
replay of the same signed request: nothing lost, nothing doubled, nothing stuck, no replay run.

Three points here (SQLite, and PostgreSQL when ENVBOT_TEST_DATABASE_URL is set): after a
command's ack and before its work wrote anything, between Slack's accept of the card and the
commit, and while the fake API server holds the Cluster write. All five points, many runs
each: `bench/crash_matrix.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.integration.crash_world import crash_world, run_point


@pytest.mark.parametrize("point", ["command-ack", "card-accepted", "provision-write"])
def test_kill_9_then_restart_loses_doubles_and_replays_nothing(
    point: str, database_url: str, engine: Engine, tmp_path: Path
) -> None:
    # setup: the demo world and a serve on an empty database; the point's hold is armed
    with crash_world(database_url, engine, tmp_path) as crash:
        # execution: crash at the point, restart, replay the request, run jobs until quiet
        outcome = run_point(crash, point)
        logs = "\n".join(serve.log() for serve in crash.serves)
        # validating: the crash did happen where it was meant to (the hold was reached) ...
        assert crash.slack_hold.reached.is_set() or crash.kube_hold.reached.is_set()
        # ... and every card, thread reply and DM is in Slack exactly once, the environment
        # is READY, nothing is left unsent, and the replay had no effect
        assert outcome.messages >= 2, outcome.detail  # the card and at least its READY reply
        assert (outcome.lost, outcome.doubled, outcome.stuck) == (0, 0, 0), outcome.detail
        assert outcome.replays == 0, outcome.detail
        assert "Traceback" not in logs, logs


def test_an_acknowledged_command_killed_before_its_work_is_run_after_the_restart(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    # setup
    with crash_world(database_url, engine, tmp_path) as crash:
        # execution: ack, hold the worker at its first Slack call, kill -9, restart, replay
        outcome = run_point(crash, "command-ack")
        # validating: one environment, READY, its card posted once, the user answered at
        # the command's response_url, and the restarted process said it ran the row again
        assert (outcome.lost, outcome.doubled, outcome.stuck, outcome.replays) == (0, 0, 0, 0)
        answers = [c for c in crash.slack.calls_to("response_url") if "sandbox" in str(c)]
        assert answers, outcome.detail
        assert "running an inbox row again" in crash.serves[-1].log()
