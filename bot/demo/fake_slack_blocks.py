"""Block Kit limit checks, so the fake Slack rejects over-limit messages and views as Slack does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100

BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "channels_select",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "image",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "timepicker",
        "url_text_input",
        "users_select",
    }
)
_SELECTS_WITH_OPTIONS = frozenset(
    {"static_select", "multi_static_select", "checkboxes", "radio_buttons", "overflow"}
)


class _Checker:
    """Collects Slack-style `[ERROR] ... [json-pointer:/blocks/0/...]` messages."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"[ERROR] {message} [json-pointer:{path}]")

    def max_len(self, path: str, value: object, limit: int, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.fail(path, "must provide a string")
            return
        if not isinstance(value, str):
            self.fail(path, "must be a string")
        elif len(value) > limit:
            self.fail(path, f"must be less than {limit + 1} characters")
        elif required and not value:
            self.fail(path, "must be more than 0 characters")

    def text(
        self, path: str, obj: object, limit: int, *, plain_only: bool = False, required: bool = True
    ) -> None:
        if obj is None:
            if required:
                self.fail(path, "must provide an object")
            return
        if not isinstance(obj, dict):
            self.fail(path, "must provide an object")
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.fail(f"{path}/type", f"must be one of {', '.join(allowed)}")
        self.max_len(f"{path}/text", obj.get("text"), limit, required=True)

    def confirm(self, path: str, obj: object) -> None:
        if obj is None:
            return
        if not isinstance(obj, dict):
            self.fail(path, "must provide an object")
            return
        self.text(f"{path}/title", obj.get("title"), 100, plain_only=True)
        self.text(f"{path}/text", obj.get("text"), 300)
        self.text(f"{path}/confirm", obj.get("confirm"), 30, plain_only=True)
        self.text(f"{path}/deny", obj.get("deny"), 30, plain_only=True)
        style = obj.get("style")
        if style is not None and style not in ("primary", "danger"):
            self.fail(f"{path}/style", "must be one of primary, danger")

    def options(self, path: str, options: object, limit: int) -> None:
        if not isinstance(options, list):
            self.fail(path, "must provide an array")
            return
        if len(options) > limit:
            self.fail(path, f"must provide no more than {limit} items")
        for i, opt in enumerate(options):
            if not isinstance(opt, dict):
                self.fail(f"{path}/{i}", "must provide an object")
                continue
            self.text(f"{path}/{i}/text", opt.get("text"), 75)
            self.max_len(f"{path}/{i}/value", opt.get("value"), 150)

    def element(self, path: str, el: object) -> None:
        if not isinstance(el, dict):
            self.fail(path, "must provide an object")
            return
        kind = el.get("type")
        if kind not in ELEMENT_TYPES:
            self.fail(f"{path}/type", f"invalid element type {kind!r}")
            return
        self.max_len(f"{path}/action_id", el.get("action_id"), 255)
        self.confirm(f"{path}/confirm", el.get("confirm"))
        if kind == "button":
            self.text(f"{path}/text", el.get("text"), 75, plain_only=True)
            self.max_len(f"{path}/value", el.get("value"), 2000)
            self.max_len(f"{path}/url", el.get("url"), 3000)
            style = el.get("style")
            if style is not None and style not in ("primary", "danger"):
                self.fail(f"{path}/style", "must be one of primary, danger")
        elif kind in _SELECTS_WITH_OPTIONS and "option_groups" not in el:
            self.options(f"{path}/options", el.get("options"), 5 if kind == "overflow" else 100)
        if kind.endswith(("select", "_input", "picker")):
            self.text(f"{path}/placeholder", el.get("placeholder"), 150, required=False)

    def elements_unique(self, path: str, elements: list[Any]) -> None:
        seen: set[str] = set()
        for i, el in enumerate(elements):
            aid = el.get("action_id") if isinstance(el, dict) else None
            if isinstance(aid, str):
                if aid in seen:
                    self.fail(f"{path}/{i}/action_id", "duplicate action_id")
                seen.add(aid)

    def block(self, path: str, block: object) -> None:
        if not isinstance(block, dict):
            self.fail(path, "must provide an object")
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(f"{path}/type", f"invalid block type {kind!r}")
            return
        self.max_len(f"{path}/block_id", block.get("block_id"), 255)
        if kind == "section":
            self._section(path, block)
        elif kind == "header":
            self.text(f"{path}/text", block.get("text"), 150, plain_only=True)
        elif kind == "markdown":
            self.max_len(f"{path}/text", block.get("text"), 12000, required=True)
        elif kind == "actions":
            self._list(path, block, "elements", 25, self.element)
        elif kind == "context":
            self._list(path, block, "elements", 10, self._context_element)
        elif kind == "input":
            self.text(f"{path}/label", block.get("label"), 2000, plain_only=True)
            self.text(f"{path}/hint", block.get("hint"), 2000, plain_only=True, required=False)
            self.element(f"{path}/element", block.get("element"))
        elif kind == "image":
            self.max_len(f"{path}/image_url", block.get("image_url"), 3000)
            self.max_len(f"{path}/alt_text", block.get("alt_text"), 2000, required=True)

    def _section(self, path: str, block: dict[str, Any]) -> None:
        fields = block.get("fields")
        if block.get("text") is None and fields is None:
            self.fail(path, "must provide text or fields")
        self.text(f"{path}/text", block.get("text"), 3000, required=False)
        if fields is not None:
            if not isinstance(fields, list):
                self.fail(f"{path}/fields", "must provide an array")
            else:
                if len(fields) > 10:
                    self.fail(f"{path}/fields", "must provide no more than 10 items")
                for i, field in enumerate(fields):
                    self.text(f"{path}/fields/{i}", field, 2000)
        if block.get("accessory") is not None:
            self.element(f"{path}/accessory", block["accessory"])

    def _context_element(self, path: str, el: object) -> None:
        if isinstance(el, dict) and el.get("type") == "image":
            self.max_len(f"{path}/alt_text", el.get("alt_text"), 2000, required=True)
        else:
            self.text(path, el, 3000)

    def _list(
        self,
        path: str,
        block: dict[str, Any],
        key: str,
        limit: int,
        check: Callable[[str, object], None],
    ) -> None:
        items = block.get(key)
        if not isinstance(items, list) or not items:
            self.fail(f"{path}/{key}", "must provide a non-empty array")
            return
        if len(items) > limit:
            self.fail(f"{path}/{key}", f"must provide no more than {limit} items")
        for i, item in enumerate(items):
            check(f"{path}/{key}/{i}", item)
        self.elements_unique(f"{path}/{key}", items)

    def blocks(self, path: str, blocks: object, limit: int) -> None:
        if not isinstance(blocks, list):
            self.fail(path, "must provide an array")
            return
        if len(blocks) > limit:
            self.fail(path, f"must provide no more than {limit} items")
        seen: set[str] = set()
        for i, block in enumerate(blocks):
            self.block(f"{path}/{i}", block)
            bid = block.get("block_id") if isinstance(block, dict) else None
            if isinstance(bid, str):
                if bid in seen:
                    self.fail(f"{path}/{i}/block_id", "duplicate block_id")
                seen.add(bid)


def validate_message_blocks(blocks: object) -> list[str]:
    """Return Slack-style error messages for message blocks; an empty list means valid."""
    checker = _Checker()
    checker.blocks("/blocks", blocks, MAX_MESSAGE_BLOCKS)
    return checker.errors


def validate_view(view: object, *, expected_type: str | None = None) -> list[str]:
    """Return Slack-style error messages for a modal or home view; empty means valid."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.fail("/view", "must provide an object")
        return checker.errors
    kind = view.get("type")
    if kind not in ("modal", "home") or (expected_type is not None and kind != expected_type):
        checker.fail("/view/type", f"must be {expected_type or 'modal or home'}")
    if kind == "modal":
        checker.text("/view/title", view.get("title"), 24, plain_only=True)
        checker.text("/view/submit", view.get("submit"), 24, plain_only=True, required=False)
        checker.text("/view/close", view.get("close"), 24, plain_only=True, required=False)
        has_input = any(
            isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or []
        )
        if has_input and view.get("submit") is None:
            checker.fail("/view/submit", "must provide submit when an input block is present")
    checker.max_len("/view/callback_id", view.get("callback_id"), 255)
    checker.max_len("/view/private_metadata", view.get("private_metadata"), 3000)
    checker.max_len("/view/external_id", view.get("external_id"), 255)
    checker.blocks("/view/blocks", view.get("blocks"), MAX_VIEW_BLOCKS)
    return checker.errors
