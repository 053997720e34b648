"""Placeholder until the Slack app issue lands; kept so the import-linter layers resolve."""
