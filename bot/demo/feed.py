"""Prints what the fake Slack delivered as the demo's text, each thread reply under its card.

Deliveries arrive in one feed: a card, a DM, then a reply in the card's thread. A reply is
indented, and when the line printed last was not its card (or another reply to it), the card's
first line is repeated as a heading first, so a reply is never read as belonging to a DM.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_store import Delivery, DeliveryKind
from bot.demo.render_text import render_delivery

Anchor = tuple[str, str]


class FeedPrinter:
    """Turns deliveries into lines, remembering which card the output is under."""

    def __init__(self, slack: FakeSlack, name: Callable[[str], str]) -> None:
        self.slack = slack
        self.name = name
        self._anchor: Anchor | None = None
        self._cards: dict[Anchor, str] = {}  # each card's first line as printed last

    def interrupt(self) -> None:
        """Something else was printed (the demo's `> line`): the next reply gets its heading."""
        self._anchor = None

    def lines(self, deliveries: list[Delivery]) -> list[str]:
        """The text blocks to print for `deliveries` (deletions are not shown)."""
        out: list[str] = []
        for d in deliveries:
            if d.kind == DeliveryKind.DELETE:
                continue
            if d.where == "thread" and d.thread_ts is not None and d.channel is not None:
                anchor = (d.channel, d.thread_ts)
                if anchor != self._anchor:
                    out.append(self._heading(anchor))
                self._anchor = anchor
            elif d.kind in (DeliveryKind.POST, DeliveryKind.UPDATE) and d.channel and d.ts:
                self._anchor = (d.channel, d.ts) if d.where.startswith("#") else None
            else:
                self._anchor = None
            text = render_delivery(d, self.name, self.slack.usergroup_handle)
            if self._anchor is not None and d.where != "thread":
                self._cards[self._anchor] = text.split("\n")[0].replace(" (updated):", ":", 1)
            out.append(text)
        return out

    def _heading(self, anchor: Anchor) -> str:
        """`  (thread of #platform: <the card's first line>)`."""
        if anchor in self._cards:
            return f"  (thread of {self._cards[anchor]})"
        channel, ts = anchor
        card = self.slack.message(channel, ts)
        if card is None:
            return f"  (thread of a message in {self.slack.conversation_name(channel)})"
        first = render_delivery(
            Delivery(0, DeliveryKind.POST, card.where, card.conversation, card.text, card.blocks),
            self.name,
            self.slack.usergroup_handle,
        ).split("\n")[0]
        return f"  (thread of {first})"
