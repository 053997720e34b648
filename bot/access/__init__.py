"""The access workflow: `/access` commands, grants and their jobs, and rendering."""

# The workflow's kind: the audit trail's object type, the outbox key, and the first part of
# every button value (`access:<id>`).
KIND = "access"
# The letter its ids start with (`new_id`); buttons posted before `access:<id>` carry a bare id.
ID_PREFIX = "r"
