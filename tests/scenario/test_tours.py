"""Every `examples/*.txt` tour runs as an end-to-end check, and the demo's exit codes hold."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from bot.demo.tour import EXIT_EXPECT_FAILED, EXIT_OK, EXIT_PARSE_ERROR, run_script

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policy.yaml"
TOURS = sorted((ROOT / "examples").glob("*.txt"))

# Tours always run on their own SQLite (as `envbot demo` does), so the PostgreSQL pass of the
# suite would only repeat them.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("ENVBOT_TEST_DATABASE_URL")),
    reason="tours run on the demo's own SQLite; covered by the SQLite pass",
)


@pytest.mark.parametrize("tour", TOURS, ids=[t.name for t in TOURS])
def test_tour_passes(tour: Path) -> None:
    out = io.StringIO()
    code = run_script(tour.read_text().splitlines(), POLICY, out)
    assert code == EXIT_OK, out.getvalue()[-3000:]


def test_a_failed_expect_exits_1() -> None:
    out = io.StringIO()
    code = run_script(["/env help", "expect something the bot never says"], POLICY, out)
    assert code == EXIT_EXPECT_FAILED
    assert "FAILED expect something the bot never says" in out.getvalue()


def test_an_unparsable_line_exits_2() -> None:
    out = io.StringIO()
    assert run_script(["/env help", "dance wildly"], POLICY, out) == EXIT_PARSE_ERROR
    assert 'line 2: unknown line "dance wildly"' in out.getvalue()


def test_a_refusal_is_output_not_failure() -> None:
    out = io.StringIO()
    lines = [
        "/env create nosuchtemplate",
        'expect unknown template "nosuchtemplate"',
        "click approve",
        "expect-not Something went wrong",
    ]
    assert run_script(lines, POLICY, out) == EXIT_OK
    assert '(no button "approve" visible to @alice)' in out.getvalue()
