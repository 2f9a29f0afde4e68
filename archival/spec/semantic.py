"""Checks that span keys or files (a domain's source exists, mode needs a cursor, ...). They run on
documents that already passed the Cerberus rules, so the shapes are known."""

from __future__ import annotations

import difflib
from typing import Any

from archival.spec.errors import SpecError
from archival.spec.yaml_source import YamlDocument


def _did_you_mean(value: str, options: list[str], what: str) -> str:
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    listed = ", ".join(sorted(options)) or "none"
    return (f"did you mean '{close[0]}'? " if close else "") + f"{what}: {listed}"


def check_project(doc: YamlDocument) -> list[SpecError]:
    data, errors = doc.data, []
    for name, source in data["sources"].items():
        kind = source.get("type")
        at = ("sources", name)
        if kind is None:
            errors.append(doc.error(at, f"source '{name}' has no 'type'", "type: postgres | mysql | sqlite", key=True))
        elif kind == "sqlite":
            if "path" not in source:
                errors.append(doc.error(at, f"sqlite source '{name}' needs 'path'", "e.g. path: data/app.db", key=True))
            for key in ("dsn", "purge_dsn", "tls", "tls_ca"):
                if key in source:
                    errors.append(doc.error((*at, key), f"sqlite source '{name}' is a file: it takes 'path', "
                                            f"not '{key}'",
                                            "a purge deletes through the database file" if key == "purge_dsn"
                                            else None, key=True))
        else:
            if source.get("tls") in ("verify-ca", "verify-full") and "tls_ca" not in source:
                errors.append(doc.error((*at, "tls"), f"tls: {source['tls']} needs tls_ca, the CA bundle the "
                                        "server's certificate is checked against", "e.g. tls_ca: certs/db-ca.pem"))
            if "dsn" not in source:
                errors.append(doc.error(at, f"{kind} source '{name}' needs 'dsn'", "e.g. dsn: env:SALES_DB_DSN",
                                        key=True))
            if "path" in source:
                errors.append(doc.error((*at, "path"), f"{kind} source '{name}' takes 'dsn', not 'path'", None,
                                        key=True))
    targets = data["archive"]["targets"]
    default = data["archive"]["default"]
    if default not in targets:
        errors.append(doc.error(("archive", "default"), f"default target '{default}' is not declared",
                                _did_you_mean(default, list(targets), "declared targets")))
    for name, target in targets.items():
        at = ("archive", "targets", name)
        needs = {"local": "path", "s3": "bucket", None: "type"}[target.get("type")]
        if needs not in target:
            errors.append(doc.error(at, f"target '{name}' needs '{needs}'", None, key=True))
        errors += _check_encryption(doc, at, target)
        endpoint = str(target.get("endpoint_url", ""))
        if endpoint.startswith("http://") and not target.get("allow_http"):
            errors.append(doc.error((*at, "endpoint_url"), f"S3 endpoint {endpoint} is plain http: objects and "
                                    "signed requests would cross the network unencrypted",
                                    "use https, or mark a test endpoint with allow_http: true"))
        if target.get("type") == "local":
            kms_endpoint = "kms_endpoint_url" in target.get("encryption", {}).get("parquet", {})
            for key in ("bucket", "prefix", "credentials", "endpoint_url", "region", "allow_http"):
                if key == "allow_http" and kms_endpoint:
                    continue  # a local target's one endpoint: its KMS
                if key in target:
                    errors.append(doc.error((*at, key), f"'{key}' applies to s3 targets, not local ones", None,
                                            key=True))
    return errors


def _check_encryption(doc: YamlDocument, at: tuple, target: dict[str, Any]) -> list[SpecError]:
    if "encryption" not in target:
        return []
    given, errors = target["encryption"], []
    if not given:
        errors.append(doc.error((*at, "encryption"), "encryption names nothing to encrypt",
                                "parquet: {key: ...} for the files, sse_kms_key_id: ... for S3 objects"))
    if "sse_kms_key_id" in given and target.get("type") == "local":
        errors.append(doc.error((*at, "encryption", "sse_kms_key_id"), "sse_kms_key_id applies to s3 targets",
                                "encrypt a local target's files with parquet: {key: ...}", key=True))
    endpoint = str(given.get("parquet", {}).get("kms_endpoint_url", ""))
    if endpoint.startswith("http://") and not target.get("allow_http"):
        errors.append(doc.error((*at, "encryption", "parquet", "kms_endpoint_url"), f"KMS endpoint {endpoint} is "
                                "plain http: data keys would cross the network unencrypted",
                                "use https, or mark a test endpoint with allow_http: true"))
    return errors


def check_domain(doc: YamlDocument, project: dict[str, Any] | None) -> list[SpecError]:
    data, errors = doc.data, []
    if project is not None:
        sources = list(project.get("sources", {}))
        if data["source"] not in sources:
            errors.append(doc.error(("source",), f"source '{data['source']}' is not declared in archival.yaml",
                                    _did_you_mean(data["source"], sources, "declared sources")))
    defaults = data.get("defaults", {})
    errors += _unused_defaults(doc, data["tables"], defaults)
    # without a valid archival.yaml the hash key is unknown: do not report a consequence twice
    hash_key = project is None or bool(project.get("pii", {}).get("hash_key"))
    sealed = sorted(n for n, t in (project or {}).get("archive", {}).get("targets", {}).items()
                    if "parquet" in (t.get("encryption") or {}))
    for name, table in data["tables"].items():
        errors += _check_table(doc, name, table, defaults, hash_key)
        if sealed and table.get("format", defaults.get("format")) == "csv":
            where = ("tables", name, "format") if "format" in table else ("defaults", "format")
            errors.append(doc.error(where, f"table '{name}' is written as CSV, and target '{sealed[0]}' encrypts "
                                    "its files (Parquet modular encryption); CSV files cannot be encrypted",
                                    "write Parquet (format: parquet), or archive this domain to a target without "
                                    "encryption.parquet"))
        if "purge" in table and project is not None:
            errors += _check_purge_source(doc, name, project.get("sources", {}).get(data["source"]))
    tables = list(data["tables"])
    for i, rel in enumerate(data.get("relations", [])):
        for end in ("from", "to"):
            table = rel[end].split(".", 1)[0]
            if table not in tables:
                errors.append(doc.error(("relations", i, end), f"relation names table '{table}', which this "
                                        "domain does not declare", _did_you_mean(table, tables, "tables")))
    return errors


# Keys that only mean something for a table with a cursor (mode window or incremental).
CURSOR_KEYS = ("cursor", "period", "lag", "lookback", "null_cursor", "since")


def _unused_defaults(doc: YamlDocument, tables: dict[str, Any], defaults: dict[str, Any]) -> list[SpecError]:
    """A default that no table inherits does nothing: refused rather than silently ignored."""
    errors = []
    modes = {name: t.get("mode", defaults.get("mode", "full")) for name, t in tables.items()}
    for key in CURSOR_KEYS:
        if key in defaults and all(mode == "full" for mode in modes.values()):
            errors.append(doc.error(("defaults", key), f"defaults.{key} applies to no table: every table of this "
                                    "domain is mode full", "remove it, or give a table mode window or incremental",
                                    key=True))
    return errors


def _check_table(doc: YamlDocument, name: str, table: dict[str, Any], defaults: dict[str, Any],
                 hash_key: bool) -> list[SpecError]:
    at, errors = ("tables", name), []
    mode = table.get("mode", defaults.get("mode", "full"))
    if mode == "full" and "purge" in table:
        errors.append(doc.error((*at, "purge"), f"table '{name}' in mode full cannot be purged: each run archives "
                                "the whole table again, so purged rows would leave the current snapshot",
                                "purge window or incremental tables", key=True))
    if mode == "full":
        for key in CURSOR_KEYS:
            if key in table:
                errors.append(doc.error((*at, key), f"'{key}' has no meaning in mode full (table '{name}')",
                                        "set mode: window or incremental, or remove the key", key=True))
    elif "cursor" not in table:
        errors.append(doc.error(at, f"table '{name}' in mode {mode} needs a 'cursor'",
                                "e.g. cursor: [updated_at, created_at]", key=True))
    cursor = table.get("cursor", [])
    cursor = [cursor] if isinstance(cursor, str) else cursor
    keys = table.get("primary_key", [])
    for i, column in enumerate(keys):
        if column in keys[:i]:
            errors.append(doc.error((*at, "primary_key", i), f"column '{column}' appears twice in primary_key"))
    for column, rules in table.get("columns", {}).items():
        pii = rules.get("pii")
        if pii == "hash" and not hash_key:
            errors.append(doc.error((*at, "columns", column, "pii"), f"column '{column}' is hashed but "
                                    "archival.yaml sets no pii.hash_key",
                                    "add to archival.yaml: pii: {hash_key: env:ARCHIVAL_PII_KEY}"))
        if pii in ("drop", "hash", "mask") and column in keys:
            errors.append(doc.error((*at, "columns", column, "pii"), f"primary key column '{column}' cannot be "
                                    f"'{pii}'ed", "rows must stay identifiable; choose another key or no pii rule"))
        if pii == "drop" and column in cursor:
            errors.append(doc.error((*at, "columns", column, "pii"), f"cursor column '{column}' cannot be dropped",
                                    "periods are computed from it"))
        if "min" in rules and "max" in rules and rules["min"] > rules["max"]:
            errors.append(doc.error((*at, "columns", column, "max"), f"max {rules['max']} is below min {rules['min']}"))
    return errors


def _check_purge_source(doc: YamlDocument, name: str, source: dict[str, Any] | None) -> list[SpecError]:
    """The export role stays read-only: a purge needs a credential of its own."""
    if source is None or source.get("type") in (None, "sqlite") or "purge_dsn" in source:
        return []
    return [doc.error(("tables", name, "purge"), f"table '{name}' is purged but source '{doc.data['source']}' "
                      "declares no purge_dsn", "add to the source in archival.yaml: purge_dsn: env:NAME (a role "
                      "that may DELETE; the export's dsn stays read-only)", key=True)]


def check_unique_domains(docs: list[YamlDocument]) -> list[SpecError]:
    """Two files declaring one domain: report it in each of them, naming the others."""
    by_name: dict[str, list[YamlDocument]] = {}
    for doc in docs:
        by_name.setdefault(doc.data["domain"], []).append(doc)
    errors = []
    for name, group in by_name.items():
        if len(group) < 2:
            continue
        for doc in group:
            others = ", ".join(f"{o.file}:{o.position(('domain',)).line}" for o in group if o is not doc)
            errors.append(doc.error(("domain",), f"domain '{name}' is also declared in {others}",
                                    "each domain has exactly one spec file; rename or merge them"))
    return errors
