"""Slash-command text parsed into a verb, positional arguments and `--options`; pure, no I/O.

The command tables here are the single source for routing and for `/env help` and
`/access help`, so help always lists exactly what the router accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.domain.grammar import Shape, read, split_words
from bot.errors import UserError

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


@dataclass(frozen=True)
class CommandSpec:
    """One subcommand: how it is written, what it does, and who it is for."""

    verb: str
    usage: str
    summary: str
    positional: tuple[str, ...] = ()
    options: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    audience: str = "everyone"  # everyone | creators | requesters | owners

    @property
    def shape(self) -> Shape:
        """What the grammar accepts after the verb."""
        return Shape(self.usage, self.positional, self.options, self.flags)


ENV_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "create",
        '/env create <template> [name] [--ttl 3d | --until "fri 18:00"] [--reason "..."]',
        "create an environment from a template",
        ("template", "name"),
        frozenset({"ttl", "until", "reason"}),
        audience="creators",
    ),
    CommandSpec(
        "templates",
        "/env templates",
        "what you may create, with TTLs and whether approval is needed",
        audience="creators",
    ),
    CommandSpec(
        "list",
        "/env list [--all]",
        "your environments (--all: everyone's)",
        flags=frozenset({"all"}),
    ),
    CommandSpec(
        "show", "/env show <name>", "owner, state, age, time left and endpoints", ("name",)
    ),
    CommandSpec(
        "extend",
        "/env extend <name> [duration]",
        "extend by the duration or the template's step, within the cap",
        ("name", "duration"),
    ),
    CommandSpec(
        "delete", "/env delete <name>", "delete an environment (asks to confirm)", ("name",)
    ),
    CommandSpec(
        "access", "/env access <name>", "send the access instructions again, privately", ("name",)
    ),
    CommandSpec(
        "transfer",
        "/env transfer <name> @user",
        "hand an environment to someone else",
        ("name", "user"),
    ),
    CommandSpec("help", "/env help", "this list"),
)

ACCESS_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "request",
        '/access request <workspace> <role> <duration | --until "fri 18:00"> "<reason>"',
        "ask for time-boxed access (opens a form when arguments are missing)",
        ("workspace", "role", "duration"),
        frozenset({"until", "reason"}),
        audience="requesters",
    ),
    CommandSpec(
        "list",
        "/access list",
        "your grants and requests with state and time left (owners: their workspaces')",
    ),
    CommandSpec(
        "extend",
        "/access extend <id> [duration]",
        "extend a grant within the role's cap",
        ("id", "duration"),
    ),
    CommandSpec("revoke", "/access revoke <id>", "end a grant early", ("id",)),
    CommandSpec(
        "cancel", "/access cancel <id>", "withdraw a request that is still pending", ("id",)
    ),
    CommandSpec(
        "break-glass",
        '/access break-glass <workspace> <role> <duration> "<reason>"',
        "in an incident: access at once, without approval, if the policy lets you "
        "(the owners review it; opens a form when arguments are missing)",
        ("workspace", "role", "duration"),
        frozenset({"reason"}),
        audience="requesters",
    ),
    CommandSpec("help", "/access help", "this list"),
)

SURFACES: dict[str, tuple[CommandSpec, ...]] = {"env": ENV_COMMANDS, "access": ACCESS_COMMANDS}


@dataclass(frozen=True)
class Actor:
    """Who typed the command, and where."""

    user_id: str
    channel_id: str = ""
    trigger_id: str = ""


@dataclass(frozen=True)
class Command:
    """A parsed slash command."""

    surface: str
    verb: str
    args: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()

    def arg(self, index: int, what: str) -> str:
        """The positional argument at `index`, or a UserError naming what is missing."""
        if index < len(self.args):
            return self.args[index]
        spec = find_spec(self.surface, self.verb)
        raise UserError(f"missing {what}; usage: `{spec.usage}`")


def find_spec(surface: str, verb: str) -> CommandSpec:
    """The spec of `/surface verb`, or a UserError that lists the verbs."""
    for spec in SURFACES[surface]:
        if spec.verb == verb:
            return spec
    verbs = ", ".join(s.verb for s in SURFACES[surface])
    raise UserError(
        f'unknown command "{verb}" for /{surface} (try one of: {verbs}, or /{surface} help)'
    )


def parse_command(surface: str, text: str) -> Command:
    """Split `text` (what followed `/env` or `/access`) into a `Command` (see `grammar`).

    Raises:
        UserError: unbalanced quotes, an unknown verb or option, or words that fit nowhere.
    """
    words = split_words(text)
    if not words:
        return Command(surface, "help")
    spec = find_spec(surface, words[0].text.lower())
    reading = read(words[1:], spec.shape)
    return Command(surface, spec.verb, reading.args, reading.options, reading.flags)


def mentioned_user(text: str) -> str | None:
    """The user id in a Slack mention (`<@U123|alice>`), or None for a plain word."""
    match = _MENTION.match(text.strip())
    return match.group(1) if match else None
