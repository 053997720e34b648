"""The environments workflow: `/env` commands, the reconcile and expiry jobs, and rendering."""
