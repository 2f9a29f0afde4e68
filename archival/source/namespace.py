"""A source as an OpenLineage dataset namespace (`postgres://host:port/db`, `mysql://host:port/db`,
`sqlite:///abs/path.db`), from its DSN without ever taking its user or password."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from archival.source.duck import resolve_dsn
from archival.spec.model import Source

_PAIR = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}


def _parts(dsn: str) -> dict[str, str]:
    if "://" in dsn:
        url = urlsplit(dsn)
        return {"host": url.hostname or "", "port": str(url.port or ""), "db": url.path.lstrip("/")}
    pairs = {k.lower(): v.strip("'") for k, v in _PAIR.findall(dsn)}
    return {"host": pairs.get("host", ""), "port": pairs.get("port", ""),
            "db": pairs.get("dbname") or pairs.get("database") or pairs.get("db", "")}


def source_namespace(source: Source, root: Path) -> str:
    if source.type == "sqlite":
        return f"sqlite://{(root / (source.path or '')).resolve()}"
    parts = _parts(resolve_dsn(source).value)
    host = parts["host"] or "localhost"
    port = parts["port"] or DEFAULT_PORTS[source.type]
    return f"{source.type}://{host}:{port}/{parts['db']}"
