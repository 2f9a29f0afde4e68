"""The spec language v1 as Cerberus rules: the single source of truth for validation, for the JSON
Schema (`archival schema`) and for docs/specs.md. Every rule carries `meta` with its documentation:
`doc`, and where it applies `default` and `example`."""

from __future__ import annotations

from typing import Any, get_args

from archival.spec import model as m
from archival.spec import values as v

Rule = dict[str, Any]


def _meta(doc: str, default: Any = None, example: Any = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"doc": doc}
    if default is not None:
        meta["default"] = default
    if example is not None:
        meta["example"] = example
    return meta


def _str(doc: str, **kw: Any) -> Rule:
    default, example = kw.pop("default", None), kw.pop("example", None)
    return {"type": "string", "empty": False, **kw, "meta": _meta(doc, default, example)}


def _choice(doc: str, vocabulary: Any, default: str | None = None) -> Rule:
    """A value from a `Literal` vocabulary of the model: the words are written once, there."""
    allowed = list(get_args(vocabulary))
    return {"type": "string", "allowed": allowed, "meta": _meta(doc, default, allowed[0])}


def _prices(doc: str, example: dict[str, float]) -> Rule:
    return {"type": "dict", "keysrules": {"type": "string", "allowed": list(get_args(m.Tier))},
            "valuesrules": {"type": "number", "min": 0}, "meta": _meta(doc, example=example)}


def _duration(doc: str, default: str | None = None, example: str = "1h") -> Rule:
    return _str(doc, check_with="duration", default=default, example=example)


def _names(doc: str, pattern: str, example: Any) -> Rule:
    return {"type": "list", "minlength": 1, "schema": {"type": "string", "regex": pattern},
            "meta": _meta(doc, example=example)}


def _bool(doc: str, default: bool) -> Rule:
    return {"type": "boolean", "meta": _meta(doc, default, default)}


TAGS = _names("Labels for selection (`--select tag:NAME`).", v.NAME_PATTERN, ["pii", "finance"])

RETENTION: Rule = {
    "type": "dict",
    "schema": {
        "hot": _duration("How long a closed period stays in the hot tier (age in data time: from the period's end).",
                         example="90d"),
        "cool": _duration("How long after that it stays in the cool tier.", example="1y"),
        "cold": _duration("How long after that it stays in the cold tier.", example="7y"),
        "then": _choice("After the last tier: keep it there, or delete it (`archival lifecycle`, unless held).",
                        m.RetentionEnd, default="keep"),
    },
    "meta": _meta("Storage lifecycle of archived periods, applied by `archival lifecycle` (docs/lifecycle.md). "
                  "Not content: changing it re-exports nothing.",
                  example={"hot": "90d", "cool": "1y", "cold": "7y", "then": "delete"}),
}

COLUMN: Rule = {
    "type": "dict",
    "schema": {
        "type": _str("Expected logical type. " + v.TYPE_HINT + ".", check_with="column_type", example="int64"),
        "nullable": _bool("May the column hold NULL?", True),
        "unique": _bool("Must values be unique within the table?", False),
        "allowed": {"type": "list", "minlength": 1, "meta": _meta("The only values allowed.", example=["new", "paid"])},
        "min": {"type": "number", "meta": _meta("Smallest allowed value.", example=0)},
        "max": {"type": "number", "meta": _meta("Largest allowed value.", example=100)},
        "regex": _str("Pattern every non-NULL value must match (Python syntax).", check_with="regex",
                      example="^[A-Z]{2}[0-9]+$"),
        "max_length": {"type": "integer", "min": 0, "meta": _meta("Longest allowed text, in characters.",
                                                                 example=255)},
        "pii": _choice("Personal data handling before anything touches disk: drop the column, hash it "
                       "(keyed HMAC-SHA256 with pii.hash_key) or mask it.", m.PiiRule),
        "checks": _names("Named checks registered in Python.", v.NAME_PATTERN, ["valid_email"]),
        "description": _str("What the column holds."),
    },
    "meta": _meta("Contract of one column."),
}

# Keys a table inherits from the domain's `defaults` block.
TABLE_DEFAULTS: dict[str, Rule] = {
    "mode": _choice("full: the whole table each run; window: closed periods of an immutable time "
                    "column; incremental: row versions by a last-modified column.",
                    m.Mode, default="full"),
    "period": _choice("Calendar period that partitions the archive by data time (window/incremental).",
                      m.Grain, default="month"),
    "lag": _duration("Never read rows newer than the source's now() minus this.", default="1h"),
    "lookback": _duration("Re-read this far behind the watermark to catch late commits (incremental).",
                          default="1d", example="1d"),
    "on_invalid": _choice("What a row that breaks the contract does.", m.OnInvalid,
                          default="fail"),
    "null_cursor": _choice("Rows whose cursor is NULL: their own `period=null` partition, or fail.",
                           m.NullCursor, default="partition"),
    "drift": _choice("Source schema changes: evolve records a new schema version; freeze fails with the diff.",
                     m.Drift, default="evolve"),
    "since": {"type": ["string", "date", "datetime"], "check_with": "instant",
              "meta": _meta("Earliest plausible cursor value (a date or an ISO 8601 instant, in the domain's calendar "
                            "zone unless it says otherwise; rounded down to its period's start). A row whose cursor "
                            "lies before it, or more than `lag` plus one day after the run's time, does not stretch "
                            "the calendar: it goes to `on_invalid` in `period=out_of_range`.", default="1970-01-01",
                            example="2020-01-01")},
    "timezone": _str("Zone that timestamp-without-time-zone columns hold.", check_with="timezone",
                     default="UTC", example="UTC"),
    "format": _choice("File format of the archive.", m.FileFormat, default="parquet"),
    "tier": _choice("Storage tier new files start in.", m.Tier, default="hot"),
    "retention": RETENTION,
    "reconcile": {"type": "string", "allowed": ["after_run", "manual"],
                  "meta": _meta("after_run: every run compares each period it wrote with the source (reconcile) and "
                                "fails, naming the keys, when they differ (event archival.reconcile.mismatch); "
                                "manual: only `archival reconcile` does.", default="manual", example="after_run")},
}

PURGE: Rule = {
    "type": "dict",
    "schema": {
        "after": _duration("A period is purged once its end is this far behind the purge's as-of (data time).",
                           example="1y") | {"required": True},
        "batch_rows": {"type": "integer", "min": 1, "max": 100_000,
                       "meta": _meta("Rows locked, compared and deleted per source transaction.", 5000, 5000)},
        "pause": _duration("Wait between batches (load control).", default="1s", example="1s"),
        "max_rows_per_run": {"type": "integer", "min": 1,
                             "meta": _meta("Delete at most this many rows of the table per run.", example=1_000_000)},
        "lock_timeout": _duration("A batch waits this long for its row locks, then is skipped for this run.",
                                  default="5s", example="5s"),
        "statement_timeout": _duration("Longest one statement of a batch may run.", default="60s", example="60s"),
        "max_replica_lag": _duration("PostgreSQL: before each batch, wait while a streaming replica lags more than "
                                     "this (pg_stat_replication.replay_lag).", example="30s"),
    },
    "meta": _meta("Opt-in: delete this table's rows from the source once the archive provably holds them "
                  "(`archival purge`, docs/purge.md). Window and incremental tables only; the source needs a "
                  "purge_dsn (postgres, mysql). Not content: changing it re-exports nothing.",
                  example={"after": "1y", "batch_rows": 5000, "pause": "1s", "max_rows_per_run": 1_000_000}),
}

TABLE: Rule = {
    "type": "dict",
    "schema": {
        "relation": _str("Physical name in the source: `table` or `schema.table`.", regex=v.RELATION_PATTERN,
                         required=True, example="public.orders"),
        "description": _str("What the table holds."),
        "tags": TAGS,
        "primary_key": {**_names("Columns that identify a row; files are ordered by them.",
                                 v.IDENTIFIER_PATTERN, ["id"]), "required": True},
        "cursor": {"type": ["string", "list"], "empty": False, "regex": v.IDENTIFIER_PATTERN,
                   "schema": {"type": "string", "regex": v.IDENTIFIER_PATTERN},
                   "meta": _meta("Time column(s) of window/incremental mode; a list means the first "
                                 "non-NULL of them.", example=["updated_at", "created_at"])},
        **TABLE_DEFAULTS,
        "purge": PURGE,
        "columns": {"type": "dict", "keysrules": {"type": "string", "regex": v.IDENTIFIER_PATTERN},
                    "valuesrules": COLUMN,
                    "meta": _meta("Optional contract; unlisted columns pass through unchanged.")},
    },
    "meta": _meta("One table of the domain."),
}

DOMAIN: Rule = {
    "domain": _str("Name of the domain; also its folder in the archive.", regex=v.NAME_PATTERN,
                   required=True, example="sales"),
    "owner": _str("Who answers for this domain's data.", required=True, example="sales-ops@example.com"),
    "description": _str("What the domain holds."),
    "source": _str("Name of a source declared in archival.yaml.", required=True, regex=v.NAME_PATTERN,
                   example="sales_db"),
    "tags": TAGS,
    "schedule": {
        "type": "dict",
        "schema": {
            "cron": _str("When runs start. " + v.CRON_HINT + ".", check_with="cron", required=True,
                         example="0 2 * * *"),
            "timezone": _str("Zone of the cron, the quiet hours and the period calendar.",
                             check_with="timezone", default="UTC", example="Europe/Berlin"),
        },
        "meta": _meta("When the domain is exported."),
    },
    "quiet_hours": {"type": "list", "schema": _str("HH:MM-HH:MM", check_with="quiet_hours"),
                    "meta": _meta("Never start extracting inside these (schedule time zone).",
                                  example=["07:00-20:00"])},
    "defaults": {"type": "dict", "schema": TABLE_DEFAULTS,
                 "meta": _meta("Values every table of the domain inherits unless it sets its own.")},
    "tables": {"type": "dict", "required": True, "minlength": 1,
               "keysrules": {"type": "string", "regex": v.NAME_PATTERN}, "valuesrules": TABLE,
               "meta": _meta("Tables to archive, by archive name.",
                             example={"orders": {"relation": "public.orders", "primary_key": ["id"]}})},
    "relations": {
        "type": "list",
        "schema": {
            "type": "dict",
            "schema": {
                "from": _str("`table.column` that refers to another table.", required=True,
                             check_with="column_ref", example="orders.customer_id"),
                "to": _str("`table.column` it refers to.", required=True, check_with="column_ref",
                           example="customers.id"),
            },
        },
        "meta": _meta("References between tables; exported from one snapshot, checked by reconcile.",
                      example=[{"from": "orders.customer_id", "to": "customers.id"}]),
    },
}

SOURCE: Rule = {
    "type": "dict",
    "schema": {
        "type": _choice("Database kind.", m.SourceType),
        "dsn": _str("Connection string (postgres, mysql). " + v.SECRET_HINT + "; a literal DSN may not "
                    "hold a password.", check_with="dsn", example="env:SALES_DB_DSN"),
        "path": _str("Database file (sqlite), relative to the project directory.", example="data/helpdesk.db"),
        "timezone": _str("Zone of the source's clock and of its naive timestamps, unless a table says.",
                         check_with="timezone", default="UTC", example="UTC"),
        "max_parallel": {"type": "integer", "min": 1,
                         "meta": _meta("Overrides limits.max_parallel_per_source for this source.", example=2)},
        "platform": _choice("The low-code app that owns the database (postgres): `archival init --from` reads its "
                            "metadata, `validate --connect` compares the specs with it (renamed, removed, new "
                            "fields).", m.Platform),
        "tls": _choice("TLS to the source (postgres, mysql): verify-full checks the server's certificate and name "
                       "against tls_ca. Default: require for a host that is not loopback, prefer for loopback.",
                       m.TlsMode),
        "tls_ca": _str("CA bundle (PEM file, relative to the project directory) for verify-ca/verify-full.",
                       example="certs/db-ca.pem"),
        "purge_dsn": _str("Connection string of the role `archival purge` deletes with (postgres, mysql); the "
                          "export's `dsn` stays read-only. " + v.SECRET_HINT + ".", check_with="dsn",
                          example="env:SALES_DB_PURGE_DSN"),
    },
    "meta": _meta("A database of a low-code app."),
}

TARGET: Rule = {
    "type": "dict",
    "schema": {
        "type": _choice("Where files go.", m.TargetType),
        "path": _str("Folder of a local target, relative to the project directory.", example="./archive"),
        "bucket": _str("S3 bucket.", example="acme-archive"),
        "prefix": _str("Key prefix inside the bucket.", example="lowcode"),
        "credentials": _str("AWS credentials. " + v.SECRET_HINT + ".", check_with="secret_ref",
                            example="prefect-block:aws-credentials/archive"),
        "endpoint_url": _str("S3-compatible endpoint (MinIO, Ceph, ...); https unless allow_http says otherwise.",
                             example="https://minio.internal:9000"),
        "encryption": {
            "type": "dict",
            "schema": {
                "sse_kms_key_id": _str("S3: the KMS key (id, ARN or alias) every object is encrypted with (SSE-KMS); "
                                       "every put, multipart upload and copy asks for it, and a bucket that stores "
                                       "an object without it is refused.", example="alias/archival"),
                "parquet": {
                    "type": "dict",
                    "schema": {
                        "key": _str("Master key that wraps each file's data key: kms:KEY (AWS KMS) or a reference to "
                                    "a base64 256-bit key (env:NAME, prefect-secret:NAME) for air-gapped sites. "
                                    "Files name it in their footer: after a rotation keep the old key reachable "
                                    "under its old reference.", check_with="master_key", required=True,
                                    example="kms:alias/archival-parquet"),
                        "kms_endpoint_url": _str("AWS KMS endpoint (default: AWS's for the region).",
                                                 example="https://kms.eu-central-1.amazonaws.com"),
                        "kms_region": _str("AWS region of the KMS key (default: the target's region).",
                                           example="eu-central-1"),
                    },
                    "meta": _meta("Parquet modular encryption of every file the target holds (data, tombstones, "
                                  "quarantine, purge keys): a fresh AES-256 data key per file, footer and columns "
                                  "encrypted (AES-GCM), the data key wrapped by the master key. Plain pyarrow or "
                                  "DuckDB cannot read a file without it; archival's readers unwrap it. CSV tables "
                                  "cannot be encrypted.", example={"key": "kms:alias/archival-parquet"})},
            },
            "meta": _meta("Encryption at rest: of the files themselves (parquet, any target) and of the S3 objects "
                          "(sse_kms_key_id); both may be set.", example={"sse_kms_key_id": "alias/archival"})},
        "allow_http": _bool("Allow a plain-http endpoint_url: a test endpoint (moto, a local MinIO) only; objects and "
                            "requests would cross the network unencrypted.", False),
        "region": _str("AWS region.", example="eu-central-1"),
        "storage_classes": {
            "type": "dict", "keysrules": {"type": "string", "allowed": list(get_args(m.Tier))},
            "valuesrules": {"type": "string", "allowed": ["STANDARD", "STANDARD_IA", "ONEZONE_IA",
                                                          "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER",
                                                          "DEEP_ARCHIVE"]},
            "meta": _meta("S3: the storage class of each tier (defaults: hot STANDARD, cool STANDARD_IA, cold "
                          "GLACIER_IR). GLACIER and DEEP_ARCHIVE objects must be retrieved before they can be read "
                          "(`archival retrieve`).", example={"cold": "DEEP_ARCHIVE"})},
        "object_lock": _choice("S3 with Object Lock: data files are locked in this mode until their planned "
                               "expiry (period end + hot + cool + cold); `archival lifecycle` refuses to expire a "
                               "period before its lock ends.", m.ObjectLockMode),
        "tiers": {
            "type": "dict", "keysrules": {"type": "string", "allowed": ["cool", "cold"]},
            "valuesrules": {"type": "string", "empty": False},
            "meta": _meta("Local: a folder per tier (relative to the project directory), e.g. on cheaper volumes; "
                          "`archival lifecycle` moves periods there (copy, fsync, sha256, new manifest version, "
                          "then removal). Without it a local target only records the tier.",
                          example={"cool": "/mnt/slow/archive", "cold": "/mnt/tape-cache/archive"})},
    },
    "meta": _meta("An archive location."),
}

PROJECT: Rule = {
    "project": _str("Name of the project.", regex=v.PROJECT_PATTERN, required=True, example="acme-archive"),
    "sources": {"type": "dict", "required": True, "minlength": 1,
                "keysrules": {"type": "string", "regex": v.NAME_PATTERN}, "valuesrules": SOURCE,
                "meta": _meta("Databases, by name.")},
    "archive": {
        "type": "dict", "required": True,
        "schema": {
            "default": _str("Target used when `--target` is not given.", required=True, example="local"),
            "targets": {"type": "dict", "required": True, "minlength": 1,
                        "keysrules": {"type": "string", "regex": v.NAME_PATTERN}, "valuesrules": TARGET,
                        "meta": _meta("Archive locations, by name.")},
        },
        "meta": _meta("Where the archive lives."),
    },
    "limits": {
        "type": "dict",
        "schema": {
            "max_parallel_per_source": {"type": "integer", "min": 1,
                                        "meta": _meta("Units reading one source at once.", 2, 2)},
            "max_rows_per_run": {"type": "integer", "min": 1,
                                 "meta": _meta("Defer units beyond this many rows to the next run.",
                                               example=50_000_000)},
            "max_bytes_per_run": {"type": "integer", "min": 1,
                                  "meta": _meta("Defer units beyond this many bytes to the next run.",
                                                example=10_000_000_000)},
            "parallel_reads": {"type": "integer", "min": 1, "max": 16,
                               "meta": _meta("PostgreSQL: connections a large unit (one integer key) reads with, each "
                                             "a key range of the unit's snapshot (SET TRANSACTION SNAPSHOT, as pg_dump "
                                             "-j); the files are byte-identical to a one-connection read. At most "
                                             "the source's max_parallel.", 1, 4)},
            "parallel_min_rows": {"type": "integer", "min": 1,
                                  "meta": _meta("Units with fewer rows than this read on one connection.",
                                                1_000_000, 1_000_000)},
            "pause_source_after": {"type": "integer", "min": 1,
                                   "meta": _meta("After this many units of one source fail in a row on a connection, "
                                                 "authentication or other transient error (after their retries), "
                                                 "its remaining units are deferred to the next run.", 2, 2)},
        },
        "meta": _meta("Load control."),
    },
    "costs": {
        "type": "dict",
        "schema": {
            "currency": _str("Currency of the prices.", default="USD", example="EUR"),
            "taken": _str("Where and when the prices were taken (printed with every projection).",
                          example="2025-01, AWS S3 eu-central-1 list prices"),
            "storage_gb_month": _prices("Storage per GB-month, per tier.", {"hot": 0.023, "cool": 0.0125,
                                                                          "cold": 0.004}),
            "transition_per_1000": _prices("Moving 1,000 objects into the tier.", {"cool": 0.01, "cold": 0.02}),
            "retrieval_gb": _prices("Reading a GB back from the tier.", {"cool": 0.01, "cold": 0.03}),
        },
        "meta": _meta("Prices for `archival cost` (defaults: AWS S3 us-east-1 list prices, 2025-01; a local "
                      "disk has its own: say what it costs)."),
    },
    "lineage": {
        "type": "dict",
        "schema": {
            "url": _str("Base URL of an OpenLineage HTTP endpoint (Marquez, DataHub, ...).", required=True,
                        regex=r"^https?://.+", example="http://marquez:5000"),
            "endpoint": _str("Path of the lineage API under the URL.", default="api/v1/lineage",
                             example="api/v1/lineage"),
            "api_key": _str("Bearer token for the endpoint. " + v.SECRET_HINT + ".", check_with="secret_ref",
                            example="env:LINEAGE_API_KEY"),
        },
        "meta": _meta("OpenLineage events also go to this HTTP endpoint (they are always written to the archive's "
                      "_lineage/ too)."),
    },
    "pii": {
        "type": "dict",
        "schema": {"hash_key": _str("Key of the HMAC for `pii: hash`. " + v.SECRET_HINT + ".",
                                    check_with="secret_ref", required=True, example="env:ARCHIVAL_PII_KEY")},
        "meta": _meta("Personal data settings; a spec using `pii: hash` needs hash_key."),
    },
}


def meta_default(rules: dict[str, Rule], key: str) -> Any:
    return rules[key]["meta"].get("default")
