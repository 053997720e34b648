"""The interactive demo driven through stdin: banner, help, quit, errors that keep the prompt,
thread replies under their card, and `--keep-db` read back by `envbot audit export`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.demo.tour import EXIT_OK, EXIT_PARSE_ERROR, interactive, run_script

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policy.yaml"
ENVBOT = [sys.executable, "-m", "bot.cli"]

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("ENVBOT_TEST_DATABASE_URL")),
    reason="the demo runs on its own SQLite; covered by the SQLite pass",
)


def _session(*lines: str) -> tuple[int, str]:
    out = io.StringIO()
    code = interactive(POLICY, out, stdin=io.StringIO("".join(f"{x}\n" for x in lines)))
    return code, out.getvalue()


def test_banner_says_who_is_who_and_help_lists_the_lines() -> None:
    code, out = _session("help")
    assert code == EXIT_OK
    banner, _, rest = out.partition("> help")
    assert "You are @alice" in banner
    assert "@bob    @engineering, @sandbox-owners" in banner
    assert "@carol  @engineering, @production-owners" in banner
    assert "#platform, #sandbox-approvals, #production-approvals" in banner
    assert "Templates: dev, prod-cluster, sandbox" in banner
    assert "Type help for the line syntax, quit to leave." in banner
    for syntax in ("as @bob", "click LABEL", "submit field=value", "wait 2h", "quit"):
        assert syntax in rest


def test_bad_lines_are_explained_and_the_prompt_goes_on_until_quit() -> None:
    code, out = _session(
        "dance wildly", "as @nobody", "wait forever", "/env help", "quit", "/env list"
    )
    assert code == EXIT_OK
    assert 'unknown line "dance wildly": type help for the line syntax' in out
    assert 'no demo user "@nobody"' in out
    # the world survived the errors: a command after them is answered
    assert "/env commands you can use" in out.split('"dance wildly"', 1)[1]
    # nothing after quit ran
    assert "> /env list" not in out


def test_a_script_still_exits_2_on_the_first_unknown_line() -> None:
    out = io.StringIO()
    assert run_script(["help", "/env help"], POLICY, out) == EXIT_PARSE_ERROR
    assert "/env commands you can use" not in out.getvalue()


def test_thread_replies_are_printed_under_their_card() -> None:
    # setup: a namespace's READY reply arrives after the user's next line, the cluster's
    # replies after bob's lines and other deliveries
    code, out = _session(
        "/env create dev mine", "wait 1m", "as @bob", "/env create sandbox big", "wait 5m"
    )
    assert code == EXIT_OK
    # validating: every reply follows its card, a reply to the same card, or a heading naming it
    entries = out.splitlines()
    headings = 0
    for i, line in enumerate(entries):
        if not line.startswith("    thread:"):
            continue
        j = i - 1  # up past other replies and continuation lines, to an entry or a heading
        while entries[j].startswith("  ") and not entries[j].startswith("  (thread of"):
            j -= 1
        assert entries[j].startswith(("#platform", "  (thread of #platform")), (line, entries[j])
        headings += entries[j].startswith("  (thread of")
    assert headings >= 2
    ready = out.index("    thread: Ready")
    heading = out.rindex("  (thread of", 0, ready)
    assert "mine: namespace from template `dev`" in out[heading:ready]
    assert out.index("> wait 1m") < heading


def test_keep_db_through_stdin_is_read_by_audit_export(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    lines = "help\nnot a line\n/env create dev mine\nquit\n"
    demo = subprocess.run(
        [*ENVBOT, "demo", "--policy", str(POLICY), "--keep-db", str(db)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert 'unknown line "not a line"' in demo.stdout
    assert "Creating `mine` from `dev`" in demo.stdout
    assert f"kept in {db}" in demo.stdout

    export = ["audit", "export", "--since", "2026-01-01", "--format", "json"]
    exported = subprocess.run(
        [*ENVBOT, *export, "--database-url", f"sqlite:///{db}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert exported.returncode == 0, exported.stderr
    events = [json.loads(x) for x in exported.stdout.splitlines()]
    created = [e for e in events if e["action"] == "create" and e["object_type"] == "env"]
    assert [(e["actor"], e["detail"]["name"]) for e in created] == [("U0ALICE", "mine")]

    # a second run never writes over the kept file
    again = subprocess.run(
        [*ENVBOT, "demo", "--policy", str(POLICY), "--keep-db", str(db)],
        input="quit\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert again.returncode == 2
    assert f"{db} already exists: name a new file, or delete it first" in again.stderr
