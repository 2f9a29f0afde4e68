"""Deployment entrypoint (prefect.yaml: `flows/reconcile.py:archival_reconcile`)."""

from archival.run.reconcile_flow import archival_reconcile

__all__ = ["archival_reconcile"]
