"""What the outbox drain counts for Prometheus, and the Slack errors that retrying never heals."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
        "invalid_arguments",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "cant_update_message",
        "message_not_found",  # chat.update of a message Slack no longer has (deleted)
        "edit_window_closed",  # chat.update refused by the workspace's edit settings
    }
)

PARKED_TOTAL = Counter(
    "envbot_outbox_parked_total", "Outbox messages parked after repeated or permanent failure."
)
SENT_TOTAL = Counter("envbot_outbox_sent_total", "Outbox messages sent to Slack.")
RATE_LIMITED_TOTAL = Counter(
    "envbot_outbox_rate_limited_total", "Slack 429 answers to outbox sends."
)
PENDING = Gauge("envbot_outbox_pending", "Outbox messages waiting to be sent (after each drain).")
