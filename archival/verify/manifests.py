"""Manifest versions of each period: well-formed (JSON Schema), chained, and naming files that exist
with their size and sha256. A manifest that fails its schema is reported key by key and its files
are checked as far as its entries say where they are."""

from __future__ import annotations

import json
from typing import Any

from archival.archive import layout
from archival.archive.manifest_schema import manifest_problems
from archival.archive.store import ArchiveStore
from archival.record.manifest import sha256_hex
from archival.verify.check import VerifyReport
from archival.verify.deep import deep_check


def check_manifests(store: ArchiveStore, chains: dict[tuple[str, str, str], dict[int, str]], report: VerifyReport,
                    deep: bool) -> tuple[set[str], dict[str, str]]:
    """Returns the paths every manifest version names, and the sha256 of every manifest read."""
    named: set[str] = set()
    manifest_sha: dict[str, str] = {}
    for key in sorted(chains):
        versions = chains[key]
        previous_raw: bytes | None = None
        for version in range(1, max(versions) + 1):
            path = versions.get(version)
            if path is None:
                report.add("manifest", layout.manifest_path(*key, version), "manifest version is missing (deleted?)")
                previous_raw = None
                continue
            raw = store.read_bytes(path)
            manifest_sha[path] = sha256_hex(raw)
            report.manifests += 1
            data = _parse(path, raw, report)
            if data is None:
                previous_raw = None
                continue
            if version > 1 and previous_raw is not None and \
                    data.get("previous_manifest_sha256") != sha256_hex(previous_raw):
                report.add("manifest", path, f"previous_manifest_sha256 does not match v{version - 1:06d} "
                           "(a manifest was edited)")
            previous_raw = raw
            for entry in _entries(data):
                if isinstance(entry.get("path"), str):
                    named.add(entry["path"])
                    _check_file(store, entry, report)
            if deep and version == max(versions) and data.get("status") != "expired":
                deep_check(store, path, data, report)
    return named, manifest_sha


def _parse(path: str, raw: bytes, report: VerifyReport) -> dict[str, Any] | None:
    """The manifest, or None after reporting why it is not one. A manifest that breaks its schema in
    some keys is still returned when it is a JSON object: its files are checked as far as possible."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        report.add("manifest", path, f"not valid JSON ({exc})")
        return None
    problems = manifest_problems(data)
    for problem in problems:
        report.add("manifest", path, f"not a valid manifest: {problem}")
    return data if isinstance(data, dict) else None


def _entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for key in ("files", "tombstones", "quarantine"):
        value = data.get(key)
        if isinstance(value, list):
            found += [e for e in value if isinstance(e, dict)]
    return found


def _check_file(store: ArchiveStore, entry: dict[str, Any], report: VerifyReport) -> None:
    path = entry["path"]
    report.files += 1
    if not store.exists(path):
        report.add("missing", path, "named by a manifest but not in the archive")
        return
    size = store.size(path)
    report.bytes += size
    if isinstance(entry.get("bytes"), int) and size != entry["bytes"]:
        report.add("size", path, f"{size} bytes, manifest says {entry['bytes']} (truncated?)")
        return
    if sha256_hex(store.read_bytes(path)) != entry.get("sha256"):
        report.add("sha256", path, "content differs from the manifest's sha256 (corrupted)")
