"""Deployment entrypoint (prefect.yaml: `flows/lifecycle.py:archival_lifecycle`)."""

from archival.run.lifecycle_flow import archival_lifecycle

__all__ = ["archival_lifecycle"]
