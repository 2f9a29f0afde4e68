"""The audit chain: entries numbered without gaps, each holding the sha256 of the one before, and
every manifest recorded with its sha256. An entry that is not JSON is a finding, not a crash."""

from __future__ import annotations

from archival.archive.audit_log import read_raw_chain
from archival.archive.manifest import sha256_hex
from archival.archive.store import ArchiveStore
from archival.verify.check import VerifyReport


def check_audit(store: ArchiveStore, manifest_sha: dict[str, str], report: VerifyReport) -> None:
    previous: bytes | None = None
    recorded: dict[str, str] = {}
    for expected_seq, (path, raw, entry) in enumerate(read_raw_chain(store), start=1):
        if not isinstance(entry, dict):
            report.add("audit", path, "not a JSON object (the entry is damaged); the chain cannot be checked past it")
            previous = raw
            continue
        if entry.get("sequence") != expected_seq or not path.endswith(f"{expected_seq:010d}.json"):
            report.add("audit", path, f"expected entry {expected_seq} here (removed or reordered)")
        want = sha256_hex(previous) if previous is not None else None
        if entry.get("previous_sha256") != want:
            report.add("audit", path, "previous_sha256 does not match the entry before it (the chain was edited)")
        previous = raw
        if isinstance(entry.get("manifest"), str):
            recorded[entry["manifest"]] = str(entry.get("manifest_sha256", ""))
    for path, sha in manifest_sha.items():
        if path not in recorded:
            report.add("audit", path, "manifest is not recorded in the audit chain")
        elif recorded[path] != sha:
            report.add("manifest", path, "manifest differs from the sha256 recorded in the audit chain (edited)")
    for path in recorded:
        if path not in manifest_sha and not store.exists(path):
            report.add("manifest", path, "recorded in the audit chain but missing (deleted)")
