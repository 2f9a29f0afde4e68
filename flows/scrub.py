"""Deployment entrypoint (prefect.yaml: `flows/scrub.py:archival_scrub`)."""

from archival.run.scrub_flow import archival_scrub

__all__ = ["archival_scrub"]
