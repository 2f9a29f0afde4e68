"""Deployment entrypoint (prefect.yaml: `flows/export.py:archival_run`). The flow lives in the
package so the CLI and deployments run the very same code; this file only exposes it."""

from archival.run.flow import archival_run

__all__ = ["archival_run"]
