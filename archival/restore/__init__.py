"""Archived rows back into a database (docs/restore.md)."""
