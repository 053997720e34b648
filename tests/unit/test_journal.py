"""The ack journal's file: a record appended by a process killed before anything read it is read
after a reopen; a torn frame at the tail and an earlier pass's frames do not count; a full or
closed journal says so instead of raising into the ack; a second process cannot open it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.services.journal import Journal, JournalError

SMALL = 4096


def test_records_appended_by_a_killed_process_are_read_after_a_reopen(tmp_path: Path) -> None:
    # setup: a process journals two requests, then is killed (-9) before anything reads them
    path = tmp_path / "acks"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from bot.services.journal import Journal\n"
        "j = Journal(Path(sys.argv[1]), 4096)\n"
        "j.append('command:T1', 'command', {'text': 'create a'})\n"
        "j.append('command:T2', 'command', {'text': 'create b'})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], check=False)

    # execution
    journal = Journal(path, SMALL)

    # validating
    assert done.returncode == -signal.SIGKILL
    assert [(r.key, r.body["text"]) for r in journal.pending()] == [
        ("command:T1", "create a"),
        ("command:T2", "create b"),
    ]


def test_a_torn_frame_at_the_tail_is_ignored_and_written_over(tmp_path: Path) -> None:
    # setup: two records, then the second one's payload cut short (a kill mid-copy)
    path = tmp_path / "acks"
    journal = Journal(path, SMALL)
    journal.append("command:T1", "command", {"text": "create a"})
    cut = journal.pending()[0].end
    journal.append("command:T2", "command", {"text": "create b"})
    journal.close()
    with path.open("r+b") as f:
        f.seek(cut + 14)
        f.write(b"\x00" * 8)

    # execution
    again = Journal(path, SMALL)
    keys = [r.key for r in again.pending()]
    again.append("command:T3", "command", {"text": "create c"})

    # validating: the torn record is gone, the next append takes its place
    assert keys == ["command:T1"]
    assert [r.key for r in again.pending()] == ["command:T1", "command:T3"]


def test_consumed_records_are_not_read_again_and_an_earlier_pass_does_not_count(
    tmp_path: Path,
) -> None:
    # setup: three records consumed (the file starts over), then one shorter record
    path = tmp_path / "acks"
    journal = Journal(path, SMALL)
    for i in range(3):
        journal.append(f"command:T{i}", "command", {"text": "x" * 50})
    journal.consume(journal.pending()[-1].end)
    journal.append("command:T9", "command", {})
    journal.close()

    # execution
    again = Journal(path, SMALL)

    # validating: only the new record; the old frames after it belong to the last pass
    assert [r.key for r in again.pending()] == ["command:T9"]


def test_a_part_consumed_journal_resumes_after_the_consumed_records(tmp_path: Path) -> None:
    path = tmp_path / "acks"
    journal = Journal(path, SMALL)
    journal.append("command:T1", "command", {})
    journal.append("command:T2", "command", {})
    journal.consume(journal.pending()[0].end)
    journal.close()

    assert [r.key for r in Journal(path, SMALL).pending()] == ["command:T2"]


def test_a_full_journal_refuses_the_append(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "acks", SMALL)

    taken = [journal.append(f"command:T{i}", "command", {"text": "x" * 500}) for i in range(10)]

    assert taken[0] is True
    assert taken[-1] is False
    assert len(journal.pending()) == taken.count(True)


def test_a_closed_journal_raises_rather_than_writing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "acks", SMALL)
    journal.close()

    with pytest.raises(ValueError, match="closed"):
        journal.append("command:T1", "command", {})


def test_a_second_opener_and_a_foreign_file_are_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "acks"
    first = Journal(path, SMALL)
    other = tmp_path / "other"
    other.write_bytes(b"x" * SMALL)

    with pytest.raises(JournalError, match="a journal file of its own"):
        Journal(path, SMALL)
    with pytest.raises(JournalError, match="not an envbot journal file"):
        Journal(other, SMALL)
    with pytest.raises(JournalError, match="ENVBOT_ACK_JOURNAL"):
        Journal(tmp_path / "no" / "such" / "dir", SMALL)
    first.close()
    assert os.path.getsize(path) == SMALL
