"""Deployment entrypoint (prefect.yaml: `flows/purge.py:archival_purge`)."""

from archival.run.purge_flow import archival_purge

__all__ = ["archival_purge"]
