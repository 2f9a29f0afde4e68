"""`python -m archival.cli`."""

from archival.cli import entry

entry()
