"""Manifest versions of each period: well-formed (the typed reader names every damaged key), chained,
and naming files that exist with their size and sha256. A damaged manifest's files are still checked
as far as its entries say where they are."""

from __future__ import annotations

from typing import Any

from archival.archive import layout
from archival.archive.manifest import ManifestError, parse_manifest, read_manifest, salvage_entries, sha256_hex
from archival.archive.s3 import RETRIEVAL_CLASSES, S3Store
from archival.archive.store import ArchiveStore
from archival.verify.check import VerifyReport
from archival.verify.deep import deep_check


def check_manifests(store: ArchiveStore, chains: dict[tuple[str, str, str], dict[int, str]], report: VerifyReport,
                    deep: bool) -> tuple[set[str], dict[str, str]]:
    """Returns the paths every manifest version names, and the sha256 of every manifest read."""
    named: set[str] = set()
    manifest_sha: dict[str, str] = {}
    for key in sorted(chains):
        versions = chains[key]
        gone = _expired(store, versions)  # the period's files were deleted on purpose, recorded
        previous_sha: str | None = None
        for version in range(1, max(versions) + 1):
            path = versions.get(version)
            if path is None:
                report.add("manifest", layout.manifest_path(*key, version), "manifest version is missing (deleted?)")
                previous_sha = None
                continue
            raw = store.read_bytes(path)
            manifest_sha[path] = sha256_hex(raw)
            report.manifests += 1
            try:
                manifest = parse_manifest(path, raw)
            except ManifestError as exc:
                for problem in exc.problems:
                    report.add("manifest", path, problem if problem.startswith("not valid JSON")
                               else f"not a valid manifest: {problem}")
                _check_entries(store, salvage_entries(raw), named, report, gone)
                previous_sha = None
                continue
            if version > 1 and previous_sha is not None and manifest.previous_manifest_sha256 != previous_sha:
                report.add("manifest", path, f"previous_manifest_sha256 does not match v{version - 1:06d} "
                           "(a manifest was edited)")
            previous_sha = manifest_sha[path]
            entries = [e.model_dump() for e in [*manifest.files, *manifest.tombstones, *manifest.quarantine]]
            _check_entries(store, entries, named, report, gone)
            if deep and version == max(versions) and not manifest.expiry:
                deep_check(store, path, manifest, report)
    return named, manifest_sha


def _expired(store: ArchiveStore, versions: dict[int, str]) -> bool:
    """Whether the current version ends the period (`expiry`): then earlier versions' files may be gone."""
    try:
        return read_manifest(store, versions[max(versions)]).manifest.expiry is not None
    except ManifestError:
        return False  # reported as a damaged manifest; its files are expected


def _check_entries(store: ArchiveStore, entries: list[dict[str, Any]], named: set[str], report: VerifyReport,
                   gone: bool = False) -> None:
    for entry in entries:
        named.add(entry["path"])
        check_file(store, entry, report, gone)


def check_file(store: ArchiveStore, entry: dict[str, Any], report: VerifyReport, gone: bool = False) -> None:
    path = entry["path"]
    if not store.exists(path):
        if not gone:
            report.files += 1
            report.add("missing", path, "named by a manifest but not in the archive")
        return
    report.files += 1
    size = store.size(path)
    report.bytes += size
    if isinstance(entry.get("bytes"), int) and size != entry["bytes"]:
        report.add("size", path, f"{size} bytes, manifest says {entry['bytes']} (truncated?)")
        return
    if _frozen(store, path):  # GLACIER / DEEP_ARCHIVE: the bytes cannot be read before a retrieval
        report.frozen.add(path)
        if store.head_sha256(path) != entry.get("sha256"):  # type: ignore[attr-defined]
            report.add("sha256", path, "the sha256 stored with the object differs from the manifest's")
        return
    if sha256_hex(store.read_bytes(path)) != entry.get("sha256"):
        report.add("sha256", path, "content differs from the manifest's sha256 (corrupted)")


def _frozen(store: ArchiveStore, path: str) -> bool:
    return isinstance(store, S3Store) and bool(RETRIEVAL_CLASSES & set(store.classes.values())) \
        and store.needs_retrieval(path)
