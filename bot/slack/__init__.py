"""Slack at the edge: Block Kit builders, the outbox and its delivery, views and the directory."""
