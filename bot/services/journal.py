"""The ack journal: a memory-mapped file the listener appends a request to, without a syscall.

`ENVBOT_ACK_JOURNAL` (beside a SQLite database file unless `off`; a path for PostgreSQL). An
append is a memory copy into a `MAP_SHARED` mapping of a preallocated file under a
`threading.Lock`: no system call and no release of the GIL, so under a burst an ack is not
queued behind the 16 request threads to get the GIL back after a database call
(docs/PERFORMANCE.md, P1). The written pages are the kernel's page cache at once, so a record
survives a `kill -9` of envbot (as SQLite's `synchronous=NORMAL` does), not a crash of the
machine or a loss of the file. `journal_ingest` moves records into the inbox.

Layout: two header slots (a record of where reading resumes, written alternately, each with a
CRC, so a torn header write leaves the other), then frames `length, crc32, epoch, payload`. A
frame counts only if its CRC matches and its epoch is the file's current one: a torn frame at
the tail (a kill mid-copy) and the stale frames of an earlier pass are both ignored. When every
record has been consumed the file starts over from the top with the next epoch.
"""

from __future__ import annotations

import fcntl
import json
import mmap
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_SIZE", "Journal", "JournalError", "Record", "path_problem"]

#: Bytes preallocated for the journal (64 MiB: tens of thousands of requests).
DEFAULT_SIZE = 64 * 1024 * 1024
_MAGIC = b"ENVBJRN1"
_SLOT = struct.Struct("<QIII")  # sequence, epoch, consumed offset, crc of the first three
_SLOTS = (8, 8 + _SLOT.size)
_DATA = 64  # the first frame's offset
_FRAME = struct.Struct("<III")  # payload length, crc32 of epoch + payload, epoch


class JournalError(Exception):
    """The journal file cannot be used (say which file and why)."""


@dataclass(frozen=True)
class Record:
    """One acked request as journaled."""

    key: str
    kind: str
    body: dict[str, Any]
    end: int  # the offset after its frame (consume up to here)


def path_problem(path: Path) -> str | None:
    """What stops `envbot serve` from using `path` as its journal (None: nothing), read without
    opening it as a journal (a running `serve` holds it)."""
    folder = path.parent
    if not folder.is_dir():
        return f"{folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable by this user"
    if not path.exists():
        return None
    if not path.is_file():
        return f"{path} is not a file"
    try:
        with path.open("rb") as file:
            head = file.read(_DATA + 1)
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}"
    if len(head) > _DATA and head[:8] != _MAGIC:
        return f"{path} is not an envbot journal file"
    return None


class Journal:
    """One mapped journal file; `append` from any thread, `pending`/`consume` from one reader."""

    def __init__(self, path: Path, size: int = DEFAULT_SIZE) -> None:
        """Open (or create and preallocate) `path`; a file of another size keeps its own.

        Raises:
            JournalError: the file cannot be created, allocated, mapped, or is not a journal.
        """
        self.path = path
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                have = os.fstat(fd).st_size
                if have <= _DATA:  # new (or its creation was cut short)
                    # allocated on disk now: a write into a hole of a full disk would SIGBUS
                    os.posix_fallocate(fd, 0, size)
                    os.pwrite(fd, _MAGIC, 0)
                    have = size
                self._map = mmap.mmap(fd, have, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            except BaseException:
                os.close(fd)
                raise
        except (OSError, ValueError) as exc:
            raise JournalError(f"ENVBOT_ACK_JOURNAL {path}: {exc}") from exc
        self._fd = fd
        self._lock = threading.Lock()
        try:  # one process per journal: a second one would write over the first's frames
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self.close()
            raise JournalError(
                f"ENVBOT_ACK_JOURNAL {path} is in use by another process: give each process "
                "(each replica) a journal file of its own"
            ) from exc
        if self._map[:8] != _MAGIC or len(self._map) <= _DATA:
            self.close()
            raise JournalError(f"ENVBOT_ACK_JOURNAL {path}: not an envbot journal file")
        self._seq, self._epoch, self._consumed = self._read_header()
        self._tail = self._scan_end(self._consumed)

    # -- writing (any thread) --------------------------------------------------------------

    def append(self, key: str, kind: str, body: dict[str, Any]) -> bool:
        """Journal one request; False when it does not fit (the caller records it otherwise)."""
        payload = json.dumps([key, kind, body], separators=(",", ":")).encode()
        with self._lock:
            start = self._tail
            end = start + _FRAME.size + len(payload)
            if end > len(self._map):
                return False
            epoch = struct.pack("<I", self._epoch)
            crc = zlib.crc32(payload, zlib.crc32(epoch))
            self._map[start + _FRAME.size : end] = payload
            self._map[start : start + _FRAME.size] = _FRAME.pack(len(payload), crc, self._epoch)
            self._tail = end
        return True

    # -- reading (one thread) --------------------------------------------------------------

    def pending(self, limit: int = 256) -> list[Record]:
        """Up to `limit` records not yet consumed, oldest first."""
        with self._lock:
            offset, tail, epoch = self._consumed, self._tail, self._epoch
        out: list[Record] = []
        while offset < tail and len(out) < limit:
            frame = self._frame(offset, epoch)
            if frame is None:  # cannot happen below the tail; stop rather than guess
                break
            payload, offset = frame
            key, kind, body = json.loads(payload)
            out.append(Record(key, kind, body, offset))
        return out

    def consume(self, end: int) -> None:
        """Mark everything before `end` consumed; the file starts over when nothing is left."""
        with self._lock:
            if end <= self._consumed:
                return
            if end >= self._tail:
                self._epoch += 1  # older frames no longer count
                end = self._tail = _DATA
            self._consumed = end
            self._write_header()

    def backlog(self) -> int:
        """Bytes written and not yet consumed."""
        with self._lock:
            return self._tail - self._consumed

    def close(self) -> None:
        """Unmap the file (what is written stays in it) and let another process open it."""
        self._map.close()
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)  # releases the flock

    # -- the format ------------------------------------------------------------------------

    def _read_header(self) -> tuple[int, int, int]:
        best = (0, 0, _DATA)
        for at in _SLOTS:
            seq, epoch, consumed, crc = _SLOT.unpack_from(self._map, at)
            body = self._map[at : at + _SLOT.size - 4]
            if crc == zlib.crc32(body) and seq >= best[0] and consumed >= _DATA:
                best = (seq, epoch, consumed)
        return best

    def _write_header(self) -> None:
        self._seq += 1
        at = _SLOTS[self._seq % 2]
        body = struct.pack("<QII", self._seq, self._epoch, self._consumed)
        self._map[at : at + _SLOT.size] = body + struct.pack("<I", zlib.crc32(body))

    def _frame(self, offset: int, epoch: int) -> tuple[bytes, int] | None:
        if offset + _FRAME.size > len(self._map):
            return None
        length, crc, their_epoch = _FRAME.unpack_from(self._map, offset)
        end = offset + _FRAME.size + length
        if length == 0 or their_epoch != epoch or end > len(self._map):
            return None
        payload = self._map[offset + _FRAME.size : end]
        if zlib.crc32(payload, zlib.crc32(struct.pack("<I", epoch))) != crc:
            return None
        return payload, end

    def _scan_end(self, offset: int) -> int:
        while (frame := self._frame(offset, self._epoch)) is not None:
            offset = frame[1]
        return offset
