"""Button presses: the typed payload, each workflow's declared buttons, and the router that checks
a press's `action_id`, `block_id` and `value` against the object it names before acting.

A button's value is `<kind>:<id>` (see `blocks.object_value`). Buttons posted before that format
carry a bare id; they keep working: their kind comes from the block they sit in, or from the
workflow that has the id. Every refusal is a `ButtonRefused` (a `UserError`), so the presser gets a
clear ephemeral answer and nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.errors import NotFound, UserError
from bot.slack.blocks import HOME_ROW_PREFIX, VALUE_SEPARATOR, ActionId, Message

S = TypeVar("S")

# Ids are short (`new_id`: a letter and a few letters/digits); anything longer or stranger in a
# value was not written by envbot, and is refused before any lookup.
_ID = re.compile(r"[a-z0-9]{1,40}")
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,30}")
MAX_VALUE = 80
ELSEWHERE = "nothing changed; use the buttons on its card, its reminder or your Home tab"


class ButtonRefused(UserError):
    """A press whose payload does not fit the object it names; nothing was changed."""


def _quoted(raw: str) -> str:
    """A value as the answer quotes it: short, so a forged megabyte is not echoed back."""
    return raw if len(raw) <= 40 else raw[:40] + "…"


@dataclass(frozen=True)
class Press:
    """One button press, parsed from Slack's `block_actions` body."""

    action_id: ActionId
    block_id: str
    value: str
    user_id: str
    trigger_id: str

    @classmethod
    def from_body(cls, action_id: ActionId, body: Mapping[str, Any]) -> Press:
        """The press of `action_id` (the listener's) in `body`; missing fields are empty."""
        # Typed defensively: the HTTP edge checks shapes, but a Press must never be the place
        # where a malformed body (an `actions` that is not a list, a `user` string) raises.
        raw = body.get("actions")
        actions = [a for a in raw if isinstance(a, dict)] if isinstance(raw, list) else []
        action = next((a for a in actions if a.get("action_id") == action_id.value), {})
        user = body.get("user")
        return cls(
            action_id=action_id,
            block_id=str(action.get("block_id") or ""),
            value=str(action.get("value") or ""),
            user_id=str(user.get("id") or "") if isinstance(user, dict) else "",
            trigger_id=str(body.get("trigger_id") or ""),
        )


@dataclass(frozen=True)
class ButtonValue:
    """What a value names: `kind` is None for a bare id (a button posted before `<kind>:<id>`)."""

    kind: str | None
    object_id: str


def parse_value(raw: str) -> ButtonValue:
    """Split a button value into its kind and id.

    Raises:
        ButtonRefused: empty, too long, or not `<kind>:<id>` / a bare id.
    """
    if not raw.strip():
        raise ButtonRefused(f"this button names no object; {ELSEWHERE}")
    if len(raw) > MAX_VALUE:
        raise ButtonRefused(
            f'this button\'s value ("{_quoted(raw)}") is not one envbot wrote; {ELSEWHERE}'
        )
    if VALUE_SEPARATOR not in raw:
        if not _ID.fullmatch(raw.strip()):
            raise ButtonRefused(
                f'this button\'s value ("{_quoted(raw)}") is not one envbot wrote; {ELSEWHERE}'
            )
        return ButtonValue(None, raw.strip())
    kind, _, object_id = raw.partition(VALUE_SEPARATOR)
    if not _KIND.fullmatch(kind) or not _ID.fullmatch(object_id):
        raise ButtonRefused(
            f'this button\'s value ("{_quoted(raw)}") is not `<kind>:<id>`; {ELSEWHERE}'
        )
    return ButtonValue(kind, object_id)


@dataclass(frozen=True)
class Target:
    """The object a press acts on, and who pressed (with the trigger a form needs)."""

    object_id: str
    user_id: str
    trigger_id: str = ""


@dataclass(frozen=True)
class Buttons(Generic[S]):
    """One workflow's buttons, declared by its slice on its service type `S`.

    Attributes:
        kind: the workflow kind, the first part of its button values.
        noun: how answers name its objects ("environment").
        id_prefix: the letter `new_id` starts its ids with; a bare (pre-`<kind>:<id>`) value is
            an id, so one that starts with no workflow's letter was never posted by envbot.
        blocks: the block_ids its renderers put its buttons in (Home tab rows aside).
        find: the stored object by id; raises `NotFound` with a clear message.
        presses: what each button does.
        deny: the deny form's submission (id, user, note).
    """

    kind: str
    noun: str
    id_prefix: str
    blocks: frozenset[str]
    find: Callable[[S, str], object]
    presses: Mapping[ActionId, Callable[[S, Target], Message]]
    deny: Callable[[S, str, str, str], Message]

    def bind(self, service: S) -> BoundButtons:
        """These buttons on one service instance, as the router calls them."""

        def press(handle: Callable[[S, Target], Message]) -> Callable[[Target], Message]:
            return lambda target: handle(service, target)

        return BoundButtons(
            kind=self.kind,
            noun=self.noun,
            id_prefix=self.id_prefix,
            blocks=self.blocks,
            find=lambda oid: self.find(service, oid),
            presses={action: press(handle) for action, handle in self.presses.items()},
            deny=lambda oid, user, note: self.deny(service, oid, user, note),
        )


@dataclass(frozen=True)
class BoundButtons:
    """A workflow's buttons bound to its service: see `Buttons`."""

    kind: str
    noun: str
    id_prefix: str
    blocks: frozenset[str]
    find: Callable[[str], object]
    presses: Mapping[ActionId, Callable[[Target], Message]]
    deny: Callable[[str, str, str], Message]


class ButtonRouter:
    """The table from (kind, action) to a workflow's use case, and the checks before it."""

    def __init__(self, workflows: Sequence[BoundButtons]) -> None:
        self.workflows = tuple(workflows)
        self.by_kind = {w.kind: w for w in self.workflows}

    @property
    def actions(self) -> list[ActionId]:
        """Every action some workflow answers, in ActionId order (one listener each)."""
        return [a for a in ActionId if any(a in w.presses for w in self.workflows)]

    def press(self, press: Press) -> Message:
        """Check the press against the object it names, then run the workflow's use case.

        Raises:
            ButtonRefused: the value, block or action does not fit; nothing changed.
            NotFound: the object does not exist (the workflow's own message).
        """
        value = parse_value(press.value)
        home = press.block_id.startswith(HOME_ROW_PREFIX)
        if home and press.block_id.removeprefix(HOME_ROW_PREFIX) != value.object_id:
            raise ButtonRefused(
                "this button does not belong to the Home tab row it sits in; nothing changed; "
                "reopen your Home tab and use the buttons there"
            )
        workflow = self._workflow(value, press.block_id)
        handle = workflow.presses.get(press.action_id)
        if handle is None:
            raise _misplaced(
                workflow, value, f'"{press.action_id.value}" is not one of its buttons'
            )
        if not home and press.block_id not in workflow.blocks:
            owners = [w.noun for w in self.workflows if press.block_id in w.blocks]
            block = _quoted(press.block_id)
            raise _misplaced(
                workflow,
                value,
                f"it sits with {' and '.join(owners)} buttons ({block})"
                if owners
                else f'envbot posts no buttons in "{block}"',
            )
        workflow.find(value.object_id)
        return handle(Target(value.object_id, press.user_id, press.trigger_id))

    def deny(self, reference: str, user_id: str, note: str) -> Message:
        """The deny form's submission: `reference` is the form's `<kind>:<id>` (or a bare id)."""
        value = parse_value(reference)
        return self._workflow(value, "").deny(value.object_id, user_id, note)

    def _workflow(self, value: ButtonValue, block_id: str) -> BoundButtons:
        """The workflow the value names; for a bare id, the one its block or its id says."""
        if value.kind is not None:
            found = self.by_kind.get(value.kind)
            if found is None:
                raise ButtonRefused(
                    f'this button names an unknown kind of object ("{value.kind}"); {ELSEWHERE}'
                )
            return found
        if not any(value.object_id.startswith(w.id_prefix) for w in self.workflows):
            raise ButtonRefused(
                f'this button names no known request ("{value.object_id}"); {ELSEWHERE}'
            )
        by_block = [w for w in self.workflows if block_id in w.blocks]
        if len(by_block) == 1:
            return by_block[0]
        for workflow in self.workflows:
            try:
                workflow.find(value.object_id)
            except NotFound:
                continue
            return workflow
        nouns = " or ".join(w.noun for w in self.workflows)
        raise NotFound(f'no {nouns} with id "{value.object_id}"')


def _misplaced(workflow: BoundButtons, value: ButtonValue, why: str) -> ButtonRefused:
    return ButtonRefused(
        f'this button does not belong to {workflow.noun} "{value.object_id}": {why}; {ELSEWHERE}'
    )
