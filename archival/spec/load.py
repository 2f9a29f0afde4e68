"""Load a project: archival.yaml and specs/*.yaml -> validated -> Project. Reports every error of every
file in one SpecErrors, and touches no database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archival.spec import model as m
from archival.spec import values as v
from archival.spec.errors import SpecError, SpecErrors
from archival.spec.rules import DOMAIN, PROJECT, TABLE_DEFAULTS, meta_default
from archival.spec.semantic import check_domain, check_project, check_unique_domains
from archival.spec.validate import validate_document
from archival.spec.yaml_source import YamlDocument, read_yaml

PROJECT_FILE = "archival.yaml"
SPECS_DIR = "specs"


def spec_files(root: Path) -> list[Path]:
    folder = root / SPECS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_project(root: Path | str) -> m.Project:
    root = Path(root).resolve()
    errors: list[SpecError] = []
    project_doc = _load(root / PROJECT_FILE, root, PROJECT, errors, check_project)
    if project_doc is None and not (root / PROJECT_FILE).exists():
        errors = [SpecError(PROJECT_FILE, 0, 0, f"no {PROJECT_FILE} in {root}",
                            "run archival in the project folder or pass --project-dir")]
    project_data = project_doc.data if project_doc else None
    domain_docs = []
    files = spec_files(root)
    for path in files:
        doc = _load(path, root, DOMAIN, errors, lambda d: check_domain(d, project_data))
        if doc is not None:
            domain_docs.append(doc)
    errors += check_unique_domains(domain_docs)
    if errors:
        raise SpecErrors(errors)
    assert project_doc is not None
    return _build_project(root, project_doc, domain_docs)


def _load(path: Path, root: Path, rules: dict, errors: list[SpecError], semantic) -> YamlDocument | None:
    """Parse and validate one file; returns the document only when it is fully valid."""
    display = path.relative_to(root).as_posix()
    if not path.exists():
        return None
    doc, found = read_yaml(path, display)
    errors += found
    if doc is None:
        return None
    structural = validate_document(doc, rules)
    errors += structural
    if structural or found:
        return None
    more = semantic(doc)
    errors += more
    return None if more else doc


def _duration(value: str | None) -> v.Duration | None:
    return v.parse_duration(value) if value is not None else None


def _build_project(root: Path, doc: YamlDocument, domain_docs: list[YamlDocument]) -> m.Project:
    data = doc.data
    sources = {}
    for name, s in data["sources"].items():
        dsn, purge_dsn = s.get("dsn"), s.get("purge_dsn")
        sources[name] = m.Source(
            name=name, type=s["type"], path=s.get("path"),
            dsn=v.parse_secret_ref(dsn) if dsn and v.is_secret_ref(dsn) else dsn,
            timezone=s.get("timezone", "UTC"), max_parallel=s.get("max_parallel"), platform=s.get("platform"),
            purge_dsn=v.parse_secret_ref(purge_dsn) if purge_dsn and v.is_secret_ref(purge_dsn) else purge_dsn,
            tls=s.get("tls"), tls_ca=s.get("tls_ca"))
    targets = {}
    for name, t in data["archive"]["targets"].items():
        creds, parquet = t.get("credentials"), t.get("encryption", {}).get("parquet", {})
        targets[name] = m.Target(name=name, type=t["type"], path=t.get("path"), bucket=t.get("bucket"),
                                 prefix=t.get("prefix"), endpoint_url=t.get("endpoint_url"), region=t.get("region"),
                                 credentials=v.parse_secret_ref(creds) if creds else None,
                                 storage_classes=dict(t.get("storage_classes", {})), tiers=dict(t.get("tiers", {})),
                                 object_lock=t.get("object_lock"),
                                 sse_kms_key_id=t.get("encryption", {}).get("sse_kms_key_id"),
                                 parquet_key=parquet.get("key"), kms_endpoint_url=parquet.get("kms_endpoint_url"),
                                 kms_region=parquet.get("kms_region"))
    limits = m.Limits(**data.get("limits", {}))
    hash_key = data.get("pii", {}).get("hash_key")
    domains = tuple(sorted((_build_domain(d, sources) for d in domain_docs), key=lambda d: d.name))
    costs = None
    if "costs" in data:
        given, default = data["costs"], m.Prices()
        costs = m.Prices(given.get("currency", default.currency),
                         given.get("taken", f"{data['project']}'s archival.yaml"),
                         {**default.storage_gb_month, **given.get("storage_gb_month", {})},
                         {**default.transition_per_1000, **given.get("transition_per_1000", {})},
                         {**default.retrieval_gb, **given.get("retrieval_gb", {})})
    lineage = None
    if "lineage" in data:
        given = data["lineage"]
        lineage = m.LineageTarget(given["url"], given.get("endpoint", "api/v1/lineage"),
                                  v.parse_secret_ref(given["api_key"]) if given.get("api_key") else None)
    return m.Project(name=data["project"], root=root, sources=sources, targets=targets,
                     default_target=data["archive"]["default"], limits=limits, domains=domains,
                     pii_hash_key=v.parse_secret_ref(hash_key) if hash_key else None, costs=costs, lineage=lineage)


def _build_domain(doc: YamlDocument, sources: dict[str, m.Source]) -> m.Domain:
    data = doc.data
    defaults = data.get("defaults", {})
    source = sources[data["source"]]
    tables = tuple(_build_table(doc, data["domain"], name, t, defaults, source)
                   for name, t in data["tables"].items())
    relations = []
    for r in data.get("relations", []):
        (ft, fc), (tt, tc) = r["from"].split(".", 1), r["to"].split(".", 1)
        relations.append(m.Relation(ft, fc, tt, tc))
    sched = data.get("schedule")
    return m.Domain(
        name=data["domain"], owner=data["owner"], source=data["source"], tables=tables, file=doc.file,
        description=data.get("description"), tags=tuple(data.get("tags", [])), relations=tuple(relations),
        schedule=m.Schedule(sched["cron"], sched.get("timezone", "UTC")) if sched else None,
        quiet_hours=tuple(v.parse_quiet_hours(q) for q in data.get("quiet_hours", [])))


def _build_table(doc: YamlDocument, domain: str, name: str, t: dict[str, Any], defaults: dict[str, Any],
                 source: m.Source) -> m.Table:
    def setting(key: str) -> Any:
        # table value, else the domain's defaults block, else the rule's documented default
        if key in t:
            return t[key]
        if key in defaults:
            return defaults[key]
        if key == "timezone":
            return source.timezone
        return meta_default(TABLE_DEFAULTS, key)

    mode = setting("mode")
    cursor = t.get("cursor", [])
    retention = setting("retention") or {}
    pos = doc.position(("tables", name), key=True)
    return m.Table(
        domain=domain, name=name, relation=t["relation"], primary_key=tuple(t["primary_key"]), mode=mode,
        cursor=tuple([cursor] if isinstance(cursor, str) else cursor),
        period=None if mode == "full" else setting("period"),
        lag=v.parse_duration(setting("lag")), lookback=v.parse_duration(setting("lookback")),
        on_invalid=setting("on_invalid"), null_cursor=setting("null_cursor"), drift=setting("drift"),
        timezone=setting("timezone"), since=v.parse_instant(setting("since")), format=setting("format"),
        tier=setting("tier"),
        retention=m.Retention(hot=_duration(retention.get("hot")), cool=_duration(retention.get("cool")),
                              cold=_duration(retention.get("cold")), then=retention.get("then", "keep")),
        columns=tuple(_build_column(cname, c) for cname, c in t.get("columns", {}).items()),
        tags=tuple(t.get("tags", [])), description=t.get("description"),
        location=m.SpecLocation(doc.file, pos.line, pos.col), purge=_purge(t.get("purge")),
        reconcile_after_run=setting("reconcile") == "after_run")


def _purge(p: dict[str, Any] | None) -> m.Purge | None:
    if p is None:
        return None
    default = m.Purge(after=v.parse_duration(p["after"]))
    return m.Purge(after=default.after, batch_rows=p.get("batch_rows", default.batch_rows),
                   pause=_duration(p.get("pause")) or default.pause, max_rows_per_run=p.get("max_rows_per_run"),
                   lock_timeout=_duration(p.get("lock_timeout")) or default.lock_timeout,
                   statement_timeout=_duration(p.get("statement_timeout")) or default.statement_timeout,
                   max_replica_lag=_duration(p.get("max_replica_lag")))


def _build_column(name: str, c: dict[str, Any]) -> m.Column:
    allowed = c.get("allowed")
    return m.Column(name=name, type=c.get("type"), nullable=c.get("nullable", True), unique=c.get("unique", False),
                    allowed=tuple(allowed) if allowed is not None else None, min=c.get("min"), max=c.get("max"),
                    regex=c.get("regex"), max_length=c.get("max_length"), pii=c.get("pii"),
                    checks=tuple(c.get("checks", [])), description=c.get("description"))
