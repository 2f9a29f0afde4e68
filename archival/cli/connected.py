"""`archival validate --connect`: the specs against what they name outside themselves (relations,
keys and cursors in the sources, the contract against the columns' types, the app platform's
metadata, the export role's rights, the PII key, every archive target)."""

from __future__ import annotations

import sys

from archival.archive.store import ArchiveUnavailable
from archival.archive.targets import open_store, probe_writable
from archival.check.fit import contract_misfits
from archival.platform.drift import platform_drift
from archival.source.grants import role_warnings
from archival.source.probe import probe_tables
from archival.source.secrets import SecretError, resolve
from archival.spec.model import Project, Table


def connected_problems(project: Project, tables: list[Table], strict: bool) -> tuple[list[str], list[str]]:
    """(mismatches: the specs must change, unreachable: what could not be asked). Warnings and review
    notes go to stderr as they are found."""
    facts = probe_tables(project, tables)
    mismatches = [f.problem for f in facts.values() if f.problem and f.probed]
    mismatches += contract_misfits(tables, facts) + _pii_key_problems(project, tables)
    drift = platform_drift(project, tables)
    mismatches += drift.errors
    roles = role_warnings(project, tables)
    for line in [*drift.warnings, *roles, *drift.review]:
        print(("review: " if line in drift.review else "warning: ") + line, file=sys.stderr)
    if roles and strict:
        mismatches.append(f"--strict: {len(roles)} warning(s) about the export role (above)")
    unreachable = sorted({f.problem for f in facts.values() if f.problem and not f.probed} | {*drift.unreachable})
    unreachable += _target_problems(project)
    return mismatches, unreachable


def _pii_key_problems(project: Project, tables: list[Table]) -> list[str]:
    if project.pii_hash_key is None or not any(c.pii == "hash" for t in tables for c in t.columns):
        return []
    try:
        resolve(project.pii_hash_key, "pii.hash_key")
    except SecretError as exc:
        return [f"archival.yaml: {exc}"]
    return []


def _target_problems(project: Project) -> list[str]:
    problems = []
    for name in sorted(project.targets):
        try:
            probe_writable(open_store(project, name))
        except (ArchiveUnavailable, SecretError) as exc:
            problems.append(f"target '{name}': {exc}")
    return problems
