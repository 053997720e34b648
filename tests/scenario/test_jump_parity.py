"""The jump changes nothing: each tour, once with every job run at every tick of its interval and
once with the runner jumping to the ticks at which some job is due (`next_due`), prints the same
transcript and has the same rows after every line, timestamps included. A `next_due` that is
late for any real job shows here as a message, an audit event or a state change at another
moment.

The jobs run on uneven, coarser intervals than the demo's, so that stepping stays cheap and
ticks of different jobs fall apart as well as together.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from bot.db.models import Base
from bot.demo.console import Demo
from bot.jobs import Job
from bot.policy import load_policy
from bot.settings import JobSettings

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policy.yaml"
TOURS = sorted((ROOT / "examples").glob("*.txt"))
UNEVEN = JobSettings(
    outbox_interval=600,
    reconcile_interval=900,
    expiry_interval=1200,
    reminder_interval=1500,
    retention_interval=3600,
)
TABLES = ("environments", "access_requests", "events", "outbox", "slack_messages", "inbound")
RANDOM_KEY = re.compile(r"note:[0-9a-f]{12}")  # a one-off note's key is random by design
# A response_url (or its digest once used) holds the fake's port and a random token.
RESPONSE_URL = re.compile(r"^(http://127\.0\.0\.1:\d+/response/\S+|sha256:[0-9a-f]{64})$")

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("ENVBOT_TEST_DATABASE_URL")),
    reason="tours run on the demo's own SQLite; covered by the SQLite pass",
)


@dataclass
class Writes:
    """Rows changed through the engine, from SQLite's own count on each pooled connection."""

    baseline: dict[Any, int] = field(default_factory=dict)

    def watch(self, engine: Engine) -> None:
        event.listen(engine, "checkout", self._checkout)

    def _checkout(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        self.baseline.setdefault(dbapi_conn, dbapi_conn.total_changes)

    def count(self) -> int:
        return sum(conn.total_changes - start for conn, start in self.baseline.items())


@dataclass
class Stepping:
    """Runs each job at every tick, as before the jump, and notes every run that changed rows
    while the job's `next_due` said it had nothing to do yet (a late `next_due`)."""

    demo: Demo
    writes: Writes = field(default_factory=Writes)
    late: list[tuple[str, datetime, datetime | None]] = field(default_factory=list)

    def install(self) -> None:
        self.writes.watch(self.demo.runtime.engine)
        runner = self.demo.runtime.jobs
        runner.jobs = tuple(
            replace(job, run=self._probe(job), next_due=None) for job in runner.jobs
        )

    def _probe(self, job: Job) -> Callable[[], object]:
        def run() -> object:
            now = self.demo.clock.now()
            due = job.next_due(now) if job.next_due is not None else now
            before = self.writes.count()
            result = job.run()
            if self.writes.count() > before and (due is None or due > now):
                self.late.append((job.name, now, due))
            return result

        return run


def _play(tour: Path, workdir: Path, *, jump: bool) -> tuple[str, list[dict[str, list[Any]]]]:
    """Run the tour; returns its transcript and, after each line, every row of the tables.
    Stepping, it also checks that no job changed anything before its `next_due`."""
    workdir.mkdir()
    out = io.StringIO()
    demo = Demo(load_policy(POLICY), workdir, out, UNEVEN)
    stepping = Stepping(demo)
    if not jump:
        stepping.install()
    snapshots = []
    try:
        for line in tour.read_text().splitlines():
            demo.run_line(line)
            with demo.runtime.engine.connect() as conn:
                snapshots.append(
                    {
                        table: [
                            _masked(r) for r in conn.execute(select(Base.metadata.tables[table]))
                        ]
                        for table in TABLES
                    }
                )
    finally:
        demo.close()
    assert stepping.late == [], "a job did something before its next_due"
    return out.getvalue(), snapshots


def _masked(row: Any) -> tuple[Any, ...]:
    return tuple(
        RESPONSE_URL.sub("response_url", RANDOM_KEY.sub("note:*", v)) if isinstance(v, str) else v
        for v in row
    )


@pytest.mark.parametrize("tour", TOURS, ids=[t.name for t in TOURS])
def test_a_tour_jumping_matches_the_tour_stepping(tour: Path, tmp_path: Path) -> None:
    # execution
    stepped_out, stepped = _play(tour, tmp_path / "stepped", jump=False)
    jumped_out, jumped = _play(tour, tmp_path / "jumped", jump=True)

    # validating
    assert jumped_out == stepped_out
    for line, (want, got) in enumerate(zip(stepped, jumped, strict=True), start=1):
        for table in TABLES:
            assert sorted(got[table]) == sorted(want[table]), f"{table} after line {line}"
    assert stepped[-1]["outbox"], "the tour sent nothing: the comparison proves nothing"
