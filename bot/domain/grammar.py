"""The one grammar of `/env` and `/access` text: words, quotes, `--options`, and what is refused.

- Positional arguments come first, in the order the usage shows them.
- A reason is quoted text (`"try the new ingress"`) or everything after `--reason` up to the
  next option; a verb without a reason reads quoted text as one positional argument.
- `--ttl 3d` / `--ttl=3d` take one word; `--until` takes a quoted time or a day and a clock
  (`--until fri 18:00`); a duration written in words (`3 days`) is kept whole so the refusal
  can say what to write instead (`write 3d`).
- Any other word is refused, quoting the exact words: nothing is guessed or dropped.

Pure, no I/O: `read` gives the positional arguments, options and flags, or a `UserError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.durations import UNIT_WORDS
from bot.domain.until import looks_like_clock, starts_until
from bot.errors import UserError

# Slack clients turn typed quotes into curly ones; the grammar reads the straight kind.
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
REASON = "reason"
DURATION_SLOTS = frozenset({"duration"})
DURATION_OPTIONS = frozenset({"ttl"})
UNTIL = "until"


@dataclass(frozen=True)
class Word:
    """One word of the command; `quoted` when any part of it was in quotes."""

    text: str
    quoted: bool = False

    @property
    def is_option(self) -> bool:
        return not self.quoted and self.text.startswith("--") and len(self.text) > 2


@dataclass(frozen=True)
class Shape:
    """What one verb accepts: its positional slots, options that take a value, flags."""

    usage: str
    positional: tuple[str, ...] = ()
    options: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()

    @property
    def takes_reason(self) -> bool:
        return REASON in self.options


@dataclass(frozen=True)
class Reading:
    """What the words said."""

    args: tuple[str, ...]
    options: dict[str, str]
    flags: frozenset[str]


def split_words(text: str) -> list[Word]:
    """Split on spaces, keeping quoted text together. A `'` opens a quote only at the start of
    a word or after `=`, so an apostrophe (`don't`) stays a letter.

    Raises:
        UserError: a quote is not closed.
    """
    text = text.translate(_SMART_QUOTES)
    if '"' not in text and "'" not in text:  # most commands: no quote to keep together
        return [Word(word, False) for word in text.split()]  # splits where isspace() is true
    words: list[Word] = []
    buf: list[str] = []
    quote = ""
    quoted = started = False
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
            else:
                buf.append(ch)
        elif ch == '"' or (ch == "'" and (not buf or buf[-1] == "=")):
            quote, quoted, started = ch, True, True
        elif ch.isspace():
            if started:
                words.append(Word("".join(buf), quoted))
            buf, quoted, started = [], False, False
        else:
            buf.append(ch)
            started = True
    if quote:
        raise UserError(f"could not read that command: a {quote} is not closed; check the quotes")
    if started:
        words.append(Word("".join(buf), quoted))
    return words


def read(words: list[Word], shape: Shape) -> Reading:
    """Read the words after the verb against the verb's shape.

    Raises:
        UserError: an unknown option, an option without its value or given twice, or words
            that fit nowhere (quoted exactly, with what to do instead).
    """
    args: list[str] = []
    options: dict[str, str] = {}
    flags: set[str] = set()
    extras: list[list[str]] = []
    run: list[str] | None = None  # the run of unplaced words being collected
    in_options = False
    i = 0
    while i < len(words):
        word = words[i]
        if word.is_option:
            in_options, run = True, None
            i = _option(words, i, shape, options, flags)
            continue
        if word.quoted and shape.takes_reason and REASON not in options:
            options[REASON] = word.text.strip()
            run = None
        elif not in_options and len(args) < len(shape.positional):
            slot = shape.positional[len(args)]
            value, i = _joined(words, i, slot in DURATION_SLOTS, False)
            args.append(value)
            run = None
            continue
        else:
            if run is None:
                run = []
                extras.append(run)
            run.append(word.text)
        i += 1
    if extras:
        raise UserError(_not_understood(" ".join(extras[0]), shape))
    return Reading(tuple(args), options, frozenset(flags))


def _option(
    words: list[Word], i: int, shape: Shape, options: dict[str, str], flags: set[str]
) -> int:
    """Read the option at `words[i]` into `options`/`flags`; returns the next index."""
    name, eq, inline = words[i].text[2:].partition("=")
    name = name.lower()
    if name in shape.flags:
        if eq:
            raise UserError(f"--{name} takes no value; usage: `{shape.usage}`")
        flags.add(name)
        return i + 1
    if name not in shape.options:
        raise UserError(f'unknown option "--{name}"; usage: `{shape.usage}`')
    if name in options:
        raise UserError(f"--{name} is given twice; keep one. Usage: `{shape.usage}`")
    if name == REASON:
        parts = [inline] if inline else []
        j = i + 1
        while j < len(words) and not words[j].is_option:
            parts.append(words[j].text)
            j += 1
        value, nxt = " ".join(p.strip() for p in parts if p.strip()), j
    elif eq:
        value, nxt = inline, i + 1
    elif i + 1 < len(words) and not words[i + 1].is_option:
        value, nxt = _joined(words, i + 1, name in DURATION_OPTIONS, name == UNTIL)
    else:
        value, nxt = "", i + 1
    if not value.strip():
        raise UserError(f"--{name} needs a value; usage: `{shape.usage}`")
    options[name] = value.strip()
    return nxt


def _joined(words: list[Word], i: int, duration: bool, until: bool) -> tuple[str, int]:
    """The value at `words[i]`; a duration in words (`3 days`) or a day and a clock (`fri
    18:00`) is kept together, so it is refused or read as a whole. Returns (value, next)."""
    value = words[i].text
    nxt = i + 1
    if words[i].quoted or nxt >= len(words) or words[nxt].quoted:
        return value, nxt
    follower = words[nxt].text
    if duration and value.isdecimal() and follower.lower() in UNIT_WORDS:
        return f"{value} {follower}", nxt + 1
    if until and starts_until(value) and looks_like_clock(follower):
        return f"{value} {follower}", nxt + 1
    return value, nxt


def _not_understood(words: str, shape: Shape) -> str:
    shown = words if len(words) <= 80 else words[:80] + "…"
    if shape.takes_reason:
        return f'I did not understand "{shown}": put a reason in quotes or after --reason'
    return f'I did not understand "{shown}"; usage: `{shape.usage}`'
