"""`archival audit [--since DATE] [--verify]`: the audit chain read as a trail (who did what, when,
how it ended) and checked: entries numbered without gaps, each holding the sha256 of the one before,
and the chain's head as anchored outside the archive (archival/record/anchor.py) still there, so that
deleting the newest entries or the whole `_audit/` is found."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from archival.archive.audit_log import read_raw_chain
from archival.archive.manifest import sha256_hex
from archival.archive.store import ArchiveStore
from archival.record.anchor import anchors
from archival.verify.audit import check_audit
from archival.verify.check import VerifyReport

TIME_KEYS = ("at", "finished_at", "as_of")


@dataclass
class AuditTrail:
    entries: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (sequence, entry)
    problems: list[str] = field(default_factory=list)
    anchored: list[str] = field(default_factory=list)  # where the head was found anchored


def when(entry: dict[str, Any]) -> str:
    return next((str(entry[k]) for k in TIME_KEYS if entry.get(k)), "")


def summary(entry: dict[str, Any]) -> str:
    action = entry.get("action")
    if action == "run":
        return (f"{entry.get('outcome')}: {entry.get('units', 0)} unit(s), {entry.get('rows', 0):,} rows, "
                f"{len(entry.get('failures', []))} failed" + (f"; {entry['problem']}" if entry.get("problem") else ""))
    if action == "publish":
        return f"{entry.get('unit')} -> {entry.get('manifest')}"
    if action == "purge":
        return f"{entry.get('table')} {entry.get('period')}: {entry.get('deleted', 0):,} deleted"
    parts = [str(entry[k]) for k in ("table", "period", "scope", "file", "reason") if entry.get(k)]
    return "; ".join(parts)


def who_text(entry: dict[str, Any]) -> str:
    found = entry.get("initiator") or entry.get("by") or ""
    if isinstance(found, dict):
        extra = [f"{k} {found[k]}" for k in ("deployment", "flow_run", "specs_commit") if found.get(k)]
        return f"{found.get('user', '?')}@{found.get('host', '?')}" + (f" ({', '.join(extra)})" if extra else "")
    return str(found)


def read_trail(store: ArchiveStore, root: Path, project: str, since: datetime | None = None,
               verify: bool = False) -> AuditTrail:
    trail = AuditTrail()
    chain = list(read_raw_chain(store))
    for sequence, (_, _, entry) in enumerate(chain, start=1):
        if isinstance(entry, dict) and (since is None or when(entry) >= since.isoformat()):
            trail.entries.append((sequence, entry))
    if not verify:
        return trail
    report = VerifyReport()
    check_audit(store, {}, report)
    trail.problems += [str(f) for f in report.findings if f.kind == "audit"]
    found = anchors(root, project, store)
    if not found:
        trail.problems.append(f"no anchor of the chain's head was found ({root / '.archival'}, or a Prefect "
                              "Variable): a truncated chain cannot be told from a short one")
    for where, anchor in found.items():
        if "unreadable" in anchor:
            trail.problems.append(f"the anchor {where} cannot be read: {anchor['unreadable']}; the chain is checked "
                                  "against the other anchors, and the next command that appends writes it again")
            continue
        trail.anchored.append(where)
        sequence = int(anchor.get("sequence", 0))
        if sequence > len(chain):
            missing = "the whole _audit/ is gone" if not chain else f"the newest {sequence - len(chain)} are missing"
            trail.problems.append(f"the chain holds {len(chain)} entries, {where} recorded {sequence} "
                                  f"(at {anchor.get('at')}): {missing}")
        elif sequence and sha256_hex(chain[sequence - 1][1]) != anchor.get("sha256"):
            trail.problems.append(f"entry {sequence} differs from the head {where} recorded: the chain was rewritten")
    return trail
