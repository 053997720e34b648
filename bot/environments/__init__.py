"""The environments workflow: `/env` commands, the reconcile and expiry jobs, and rendering."""

# The workflow's kind: the audit trail's object type, the outbox key, and the first part of
# every button value (`env:<id>`).
KIND = "env"
# The letter its ids start with (`new_id`); buttons posted before `env:<id>` carry a bare id.
ID_PREFIX = "e"
