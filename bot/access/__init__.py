"""The access workflow: `/access` commands, grants and their jobs, and rendering."""
