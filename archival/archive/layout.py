"""The archive layout of DESIGN.md. Every object name is a pure function of its content or its
sequence number, so a rerun can never duplicate data (Kafka Connect's S3 sink does the same)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

MANIFESTS = "_manifests"
MANIFEST_RE = re.compile(r"^v(\d{6})\.json$")


def table_prefix(domain: str, table: str) -> str:
    return f"{domain}/{table}"


def period_dir(domain: str, table: str, period: str) -> str:
    return f"{domain}/{table}/period={period}"


def part_name(index: int, sha256: str, extension: str) -> str:
    return f"part-{index:05d}-{sha256[:8]}.{extension}"


def manifest_dir(domain: str, table: str, period: str) -> str:
    return f"{domain}/{table}/{MANIFESTS}/period={period}"


def manifest_path(domain: str, table: str, period: str, version: int) -> str:
    return f"{manifest_dir(domain, table, period)}/v{version:06d}.json"


def run_path(run_id: str) -> str:
    return f"_runs/{run_id}.json"


def lineage_path(run_id: str, sequence: int, event_type: str) -> str:
    return f"_lineage/{run_id}/{sequence:04d}-{event_type}.json"


def audit_path(sequence: int) -> str:
    return f"_audit/{sequence:010d}.json"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: UTC time plus randomness (two runs in one second still differ)."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


PURGES = "_purges"


def purge_record_path(run_id: str) -> str:
    return f"{PURGES}/{run_id}.json"


def purge_settlement_path(run_id: str, source: str) -> str:
    """What run `run_id` found of earlier, killed purge runs' batches of one source."""
    return f"{PURGES}/{run_id}.settled-{source}.json"


def purge_batch_path(run_id: str, domain: str, table: str, period: str, sequence: int) -> str:
    """Keys one purge batch deletes, written before its DELETE commits."""
    return f"{PURGES}/{run_id}/{domain}/{table}/period={period}/batch-{sequence:05d}.parquet"


def quarantine_dir(domain: str, table: str, period: str) -> str:
    return f"_quarantine/{domain}/{table}/period={period}"
