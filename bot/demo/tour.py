"""Running the demo from a tour script or a prompt, with its exit codes."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from bot.demo.banner import HELP, banner
from bot.demo.console import Demo, ParseError
from bot.policy import load_policy

EXIT_OK, EXIT_EXPECT_FAILED, EXIT_PARSE_ERROR = 0, 1, 2


class KeepDbError(ValueError):
    """`--keep-db` names a file that exists: the demo never writes over one."""


@contextmanager
def demo_world(policy_path: Path, out: TextIO, keep_db: Path | None = None) -> Iterator[Demo]:
    """A fresh demo; with `keep_db`, its SQLite file stays for `envbot audit export`."""
    if keep_db is not None and keep_db.exists():
        raise KeepDbError(f"{keep_db} already exists: name a new file, or delete it first")
    if keep_db is not None and not keep_db.resolve().parent.is_dir():
        raise KeepDbError(f"{keep_db}: its directory does not exist")
    policy = load_policy(policy_path)
    with tempfile.TemporaryDirectory(prefix="envbot-demo-") as tmp:
        demo = Demo(policy, Path(tmp), out, database=keep_db)
        try:
            yield demo
        finally:
            demo.close()


def _verdict(demo: Demo, out: TextIO) -> int:
    if demo.failures:
        out.write(f"{demo.failures} expectation(s) failed\n")
        return EXIT_EXPECT_FAILED
    return EXIT_OK


def run_script(
    lines: Iterable[str], policy_path: Path, out: TextIO, keep_db: Path | None = None
) -> int:
    """Run a tour; returns the exit code (0 ok, 1 an expect failed, 2 a line did not parse)."""
    with demo_world(policy_path, out, keep_db) as demo:
        for number, line in enumerate(lines, start=1):
            if line.strip() == "quit":
                break
            try:
                demo.run_line(line)
            except ParseError as exc:
                out.write(f"line {number}: {exc}\n")
                return EXIT_PARSE_ERROR
    return _verdict(demo, out)


def interactive(
    policy_path: Path,
    out: TextIO = sys.stdout,
    keep_db: Path | None = None,
    stdin: TextIO | None = None,
) -> int:
    """A prompt: a banner, then lines until `quit` or end of input; a bad line keeps the prompt."""
    source = stdin or sys.stdin
    with demo_world(policy_path, out, keep_db) as demo:
        out.write(banner(demo))
        for line in _prompt(demo, source, out):
            word = line.strip()
            if word in ("quit", "exit", "help", "?") and demo.echo:
                out.write(f"> {word}\n")
            if word in ("quit", "exit"):
                break
            if word in ("help", "?"):
                out.write(HELP)
                continue
            try:
                demo.run_line(line)
            except ParseError as exc:
                out.write(f"{exc}: type help for the line syntax\n")
    if keep_db is not None:
        out.write(f"the demo's database is kept in {keep_db} (envbot audit export reads it)\n")
    return _verdict(demo, out)


def _prompt(demo: Demo, source: TextIO, out: TextIO) -> Iterator[str]:
    """Lines typed at `envbot (@alice)> ` on a terminal (with line editing, through input());
    from a pipe, lines as they come, each echoed as `> line` instead of a prompt."""
    terminal = source is sys.stdin and source.isatty() and out is sys.stdout
    demo.echo = not terminal
    while True:
        if terminal:
            try:
                yield input(f"envbot (@{demo.slack.user(demo.user).name})> ")
            except EOFError:
                out.write("\n")
                return
            continue
        line = source.readline()
        if not line:
            return
        yield line.rstrip("\n")
