"""Running the demo from a tour script or a prompt, with its exit codes."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from bot.demo.console import Demo, ParseError
from bot.policy import load_policy

EXIT_OK, EXIT_EXPECT_FAILED, EXIT_PARSE_ERROR = 0, 1, 2


def run_script(
    lines: Iterable[str], policy_path: Path, out: TextIO, keep_db: Path | None = None
) -> int:
    """Run a tour; returns the exit code (0 ok, 1 an expect failed, 2 a line did not parse)."""
    policy = load_policy(policy_path)
    with tempfile.TemporaryDirectory(prefix="envbot-demo-") as tmp:
        demo = Demo(policy, Path(tmp), out)
        try:
            for number, line in enumerate(lines, start=1):
                try:
                    demo.run_line(line)
                except ParseError as exc:
                    out.write(f"line {number}: {exc}\n")
                    return EXIT_PARSE_ERROR
        finally:
            demo.close()
    if demo.failures:
        out.write(f"{demo.failures} expectation(s) failed\n")
        return EXIT_EXPECT_FAILED
    return EXIT_OK


def interactive(policy_path: Path, out: TextIO = sys.stdout, keep_db: Path | None = None) -> int:
    """A prompt: type lines, see what the bot sends; Ctrl-D ends."""

    def prompt() -> Iterable[str]:
        while True:
            try:
                yield input("envbot> ")
            except EOFError:
                return

    return run_script(prompt(), policy_path, out, keep_db)
