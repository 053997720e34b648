"""`envbot audit export` writes the audit trail as CSV or JSON lines, filtered by --since."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.domain.clock import ManualClock
from bot.lifecycle.audit import record

ROOT = Path(__file__).resolve().parents[2]


def _seed(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    with sessions.begin() as s:
        record(
            s,
            at=clock.now() - timedelta(days=2),
            actor="U0ALICE",
            object_type="access",
            object_id="rold1",
            action="request",
            to_state="PENDING",
        )
        record(
            s,
            at=clock.now(),
            actor="U0ALICE",
            object_type="access",
            object_id="rnew1",
            action="request",
            to_state="PENDING",
            reason='debug, "quoted"',
        )
        record(
            s,
            at=clock.now(),
            actor="U0BOB",
            object_type="access",
            object_id="rnew1",
            action="approve",
            from_state="PENDING",
            to_state="APPROVED",
        )


def _export(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", "export", "--database-url", database_url, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env=dict(os.environ),
    )


def test_csv_since(database_url: str, sessions: sessionmaker[Session], clock: ManualClock) -> None:
    _seed(sessions, clock)
    result = _export(database_url, "--since", "2026-01-05", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["object_id"], r["action"], r["to_state"]) for r in rows] == [
        ("rnew1", "request", "PENDING"),
        ("rnew1", "approve", "APPROVED"),
    ]
    assert json.loads(rows[0]["detail"]) == {"reason": 'debug, "quoted"'}
    assert "2 event(s) exported" in result.stderr


def test_json_lines(database_url: str, sessions: sessionmaker[Session], clock: ManualClock) -> None:
    _seed(sessions, clock)
    result = _export(database_url, "--since", "2026-01-01T00:00:00+00:00", "--format", "json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["object_id"] for line in lines] == ["rold1", "rnew1", "rnew1"]
    assert lines[2]["actor"] == "U0BOB"


def test_bad_since_is_explained(database_url: str) -> None:
    result = _export(database_url, "--since", "last tuesday")
    assert result.returncode == 2
    assert '--since "last tuesday" is not a date' in result.stderr
