"""The manifest, typed: what one period of one table holds (schema_version 1). The only code that
parses manifest JSON is `read_manifest`; everything else reads these models. The JSON Schema that
other tools use (schemas/manifest.schema.json, `archival schema --kind manifest`) is generated from
them, so the two cannot disagree.

Keys are of two kinds. Content (CONTENT_FIELDS) says what the period holds: if it is equal, the
current version stands and a rerun writes nothing. Records (who wrote it, when, how each column was
read, caches) are written with a version but never cause one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from archival.archive.store import ArchiveStore
from archival.checksums import FingerprintAlgorithm

SCHEMA_VERSION = 1
SHA256 = r"^[0-9a-f]{64}$"
NAME = r"^[a-z][a-z0-9_]{0,62}$"
PERIOD = r"^(full|null|out_of_range|\d{4}|\d{4}-Q[1-4]|\d{4}-\d{2}|\d{4}-W\d{2}|\d{4}-\d{2}-\d{2})$"
INSTANT = {"format": "date-time"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class SchemaColumn(_Model):
    name: str
    type: str
    """Arrow type, after PII rules."""
    nullable: bool


class FileEntry(_Model):
    """One archived file."""

    path: str
    """Relative to the archive root."""
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256)
    columns: list[SchemaColumn] | None = None
    """The file's own schema where it differs from the manifest's: a file written before the source's
    schema changed (a CSV file cannot say which columns and types it holds)."""
    key: str | None = None
    """Encrypted (Parquet modular encryption): the reference of the master key that wraps the file's
    data key (env:NAME, prefect-secret:NAME, kms:KEY); the file's footer names it too."""

    @property
    def format(self) -> Literal["parquet", "csv"]:
        return "csv" if self.path.endswith(".csv.gz") else "parquet"


class ManifestWindow(_Model):
    """Half-open [start, end) over the cursor (the first non-NULL of `columns`), UTC."""

    column: str
    columns: list[str]
    start: str = Field(json_schema_extra=INSTANT)
    end: str = Field(json_schema_extra=INSTANT)


class SourceRef(_Model):
    name: str
    type: Literal["postgres", "mysql", "sqlite"]
    relation: str


class Fingerprint(_Model):
    """Over all rows of `files` (per file, summed): sum-md5-json-v1, sum-xxh3-text-v2 or sum-xxh3-words-v3, see
    docs/archive.md (a period keeps the algorithm of its first version until it is refreshed)."""

    algorithm: FingerprintAlgorithm
    value: str = Field(pattern=r"^[0-9a-f]{32}$")


class SourceSummary(BaseModel):
    """What the source's snapshot said, in the same transaction as the rows."""

    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)
    row_count: int = Field(ge=0)
    rows_new: int | None = Field(default=None, ge=0)
    max_cursor: str | None = Field(default=None, json_schema_extra=INSTANT)
    read_strategy: Literal["native", "scan", "clustered"] | None = None


class SchemaChange(_Model):
    """Present when the schema differs from the manifest it was compared with (drift: evolve)."""

    compared_with: str
    added: list[str]
    removed: list[str]
    retyped: list[str]


class Contract(_Model):
    on_invalid: Literal["fail", "quarantine", "warn"]
    violations: dict[str, int]
    """Rows per `column: check` that broke the contract."""


class KeyChecksum(_Model):
    """Window mode: checksum of the period's live keys (sum-md5-key-v1), compared with the source to find
    late rows and deletes."""

    algorithm: Literal["sum-md5-key-v1"]
    value: str = Field(pattern=r"^[0-9a-f]{16}$")


class KeyCensus(_Model):
    """Incremental tables, the period that checks for hard deletes: the table's live keys once this
    manifest is current, and the basis it holds for (sha256 of the sorted paths of the table's other
    current manifests). A cache: a check whose archive is in another state counts the keys again."""

    live: int = Field(ge=0)
    basis: str = Field(pattern=SHA256)


class SourceColumnRecord(_Model):
    name: str
    source_type: str | None
    """The source engine's own name for the type."""
    nullable: bool | None
    rule: Literal["scanned", "decimal", "text", "json_text", "float_declared"]
    """How it was read (docs/types.md)."""


class Documentation(_Model):
    """What the spec says of the table: so the archive explains itself (a record, not content)."""

    owner: str
    domain_description: str | None = None
    description: str | None = None
    columns: dict[str, str] = {}
    """Column -> its description in the spec."""


class Expiry(_Model):
    """This version ends the period: its retention ran out and its files were deleted on purpose
    (`archival lifecycle`). `verify` then expects the files of every earlier version to be gone."""

    at: str = Field(json_schema_extra=INSTANT)
    by: str
    """Who ran the lifecycle (OS user, Prefect flow run when there is one)."""
    policy: str
    """The retention that expired it, as the spec said, e.g. `hot 30d, cool 90d, cold 365d, then delete`."""
    files: int = Field(ge=0)
    bytes: int = Field(ge=0)
    rows: int = Field(ge=0)
    expired_manifest_sha256: str = Field(pattern=SHA256)
    """The version whose rows were removed."""


class Manifest(_Model):
    """What one period of one table holds. <root>/<domain>/<table>/_manifests/period=<label>/v<NNNNNN>.json;
    the highest version is current. Written once, never changed."""

    schema_version: Literal[1]
    domain: str = Field(pattern=NAME)
    table: str = Field(pattern=NAME)
    period: str = Field(pattern=PERIOD)
    mode: Literal["full", "window", "incremental"]
    window: ManifestWindow | None
    """The rows this version read; null for mode full."""
    source: SourceRef
    primary_key: list[str] = Field(default_factory=list)
    spec_sha256: str = Field(pattern=SHA256)
    tool_version: str
    format: Literal["parquet", "csv"]
    timezone: str
    """Zone that the source's naive timestamps hold."""
    schema_: list[SchemaColumn] = Field(alias="schema")
    files: list[FileEntry]
    row_count: int = Field(ge=0)
    tombstones: list[FileEntry] = Field(default_factory=list)
    """Parquet files of keys that left the source; their rows stay in `files`."""
    deleted_rows: int = Field(default=0, ge=0)
    fingerprint: Fingerprint
    source_summary: SourceSummary
    quarantine: list[FileEntry] = Field(default_factory=list)
    """Rows set aside by the contract (on_invalid: quarantine), PII rules applied, with a `_reasons` column."""
    quarantined_rows: int = Field(ge=0)
    pii: dict[str, Literal["drop", "hash", "mask"]]
    watermark: str | None = Field(json_schema_extra=INSTANT)
    """Upper bound of what was read; null for mode full and for `null` and `out_of_range`."""
    run_id: str
    created_at: str = Field(json_schema_extra=INSTANT)
    version: int = Field(ge=1)
    previous_manifest_sha256: str | None = Field(pattern=SHA256)
    schema_change: SchemaChange | None = None
    contract: Contract | None = None
    key_checksum: KeyChecksum | None = None
    key_census: KeyCensus | None = None
    source_schema: list[SourceColumnRecord] | None = None
    """How each column was read: the source's type name, nullability and the type rule (a record)."""
    documentation: Documentation | None = None
    expiry: Expiry | None = None
    storage_tier: Literal["hot", "cool", "cold"] | None = None
    """Local targets with tier folders: the tier whose folder holds this version's files (a version
    that only moved them, written by `archival lifecycle`)."""
    audit_after: int | None = Field(default=None, ge=0)
    """The audit chain's length when this version was written: its `publish` entry comes after that
    one, so a rerun can tell cheaply whether a crash kept it from being recorded (a record)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, populate_by_name=True)

    @property
    def columns(self) -> list[SchemaColumn]:
        """The `schema` key (a name pydantic's BaseModel keeps for itself)."""
        return self.schema_

    def to_json(self) -> dict[str, Any]:
        """The manifest as written: optional keys that are not set are left out."""
        data = self.model_dump(mode="json", by_alias=True)
        return {k: v for k, v in data.items() if v is not None or k in _NULLABLE_REQUIRED}

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def content(self) -> tuple:
        return tuple(getattr(self, "schema_" if k == "schema" else k) for k in CONTENT_FIELDS)


_NULLABLE_REQUIRED = {"window", "watermark", "previous_manifest_sha256"}
# What the period holds. The window and watermark are left out on purpose: an open incremental
# period is read up to a later bound each run, and unchanged rows must not produce a new version.
CONTENT_FIELDS = ("domain", "table", "period", "mode", "source", "spec_sha256", "format", "schema", "files",
                  "row_count", "fingerprint", "quarantined_rows", "pii", "timezone", "tombstones", "deleted_rows",
                  "key_checksum", "quarantine", "contract")


def canonical_json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ManifestError(Exception):
    """A manifest that cannot be read, naming every way it is damaged."""

    def __init__(self, path: str, problems: list[str]):
        self.path, self.problems = path, problems
        super().__init__(f"manifest {path} is damaged: {'; '.join(problems[:5])}"
                         + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""))


@dataclass(frozen=True)
class StoredManifest:
    """A manifest as it lies in the archive: its path, the sha256 of its bytes, and its content."""

    path: str
    sha256: str
    manifest: Manifest


def parse_manifest(path: str, raw: bytes) -> Manifest:
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise ManifestError(path, [_problem(e) for e in exc.errors()]) from None


def salvage_entries(raw: bytes) -> list[dict[str, Any]]:
    """The file entries a damaged manifest still names ({path, bytes?, sha256?}), so that verify can
    check those files too; nothing when it is not a JSON object."""
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    lists = [data.get(k) for k in ("files", "tombstones", "quarantine")]
    return [e for value in lists if isinstance(value, list) for e in value
            if isinstance(e, dict) and isinstance(e.get("path"), str)]


def read_manifest(store: ArchiveStore, path: str) -> StoredManifest:
    """The one reader of manifests."""
    raw = store.read_bytes(path)
    return StoredManifest(path, sha256_hex(raw), parse_manifest(path, raw))


def _problem(error: dict[str, Any]) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    if error["type"] == "json_invalid":
        return f"not valid JSON ({error['msg']})"
    return f"{where or 'manifest'}: {error['msg']}"


def _untitled(node: Any) -> Any:
    """pydantic titles every property after its name: noise in a schema meant for people."""
    if isinstance(node, dict):
        return {k: _untitled(v) for k, v in node.items() if k != "title" or not isinstance(v, str)}
    return [_untitled(v) for v in node] if isinstance(node, list) else node


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of the models, for other tools (draft 2020-12)."""
    schema = _untitled(Manifest.model_json_schema(by_alias=True))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://archival.example/schemas/manifest.schema.json",
            "title": "archival manifest, schema_version 1", **schema}


def manifest_schema_text() -> str:
    return json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False) + "\n"
