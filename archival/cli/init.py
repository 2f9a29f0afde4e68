"""`archival init --from nocodb|directus`: domain specs from the app's own metadata (archival/platform/)."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from datetime import date
from pathlib import Path

from archival.cli.common import FAILED, OK, USAGE
from archival.platform.merge import add_source, merge_spec
from archival.platform.model import AppBase, PlatformError
from archival.platform.profile import propose_base
from archival.platform.render import render_spec
from archival.source import duck
from archival.spec.load import PROJECT_FILE, load_project
from archival.spec.model import Project, Source
from archival.spec.values import is_secret_ref


def _source(args: argparse.Namespace, project_file: Path) -> str | None:
    """The source's entry, added to archival.yaml with --dsn; an error message otherwise."""
    project = load_project(args.project_dir)
    known = project.sources.get(args.source)
    if known is None and not args.dsn:
        return f"source '{args.source}' is not in {project_file}; add it, or pass --dsn env:NAME to add it"
    if known is None:
        if not is_secret_ref(args.dsn):
            return "--dsn takes a secret reference (env:NAME or prefect-secret:NAME), never the DSN itself"
        entry = {"type": "postgres", "dsn": args.dsn, "platform": args.platform}
        if not args.check:
            project_file.write_text(add_source(project_file.read_text(), args.source, entry))
            print(f"{project_file}: added source {args.source} ({args.platform})")
        return None
    if known.type != "postgres":
        return f"source '{args.source}' is {known.type}: archival reads {args.platform} metadata from PostgreSQL"
    if known.platform != args.platform:
        print(f"hint: add `platform: {args.platform}` to sources.{args.source} in {project_file}, so `archival "
              "validate --connect` compares the specs with the app")
    return None


def _read(project: Project, source: Source, args: argparse.Namespace) -> tuple[AppBase, list]:
    with duck.POOL.connection(("postgres",)) as con:
        duck.attach(con, source, project.root)
        base, proposals, skipped = propose_base(con, args.platform, args.base, project.pii_hash_key is not None)
    for relation in skipped:
        print(f"warning: {relation} has no primary key: left out (archive it with a hand-written spec)")
    return base, proposals


def _command(args: argparse.Namespace) -> str:
    words = ["archival init --from", args.platform, "--source", args.source, "--owner", args.owner]
    if args.base:
        words += ["--base", repr(args.base) if " " in args.base else args.base]
    if args.domain:
        words += ["--domain", args.domain]
    return " ".join(words)


def cmd_init(args: argparse.Namespace) -> int:
    project_file = Path(args.project_dir) / PROJECT_FILE
    problem = _source(args, project_file)
    if problem:
        print(f"archival init: {problem}", file=sys.stderr)
        return USAGE
    project = load_project(args.project_dir)
    source = project.sources.get(args.source) or Source(args.source, "postgres", dsn=args.dsn)
    try:
        base, proposals = _read(project, source, args)
    except (PlatformError, duck.SourceError) as exc:
        print(f"archival init: {exc}", file=sys.stderr)
        return FAILED if isinstance(exc, duck.SourceError) else USAGE
    domain = args.domain or re.sub(r"[^a-z0-9]+", "_", (base.title if args.platform == "nocodb" else args.source)
                                   .lower()).strip("_")
    text = render_spec(base, proposals, domain, args.source, args.owner, _command(args), date.today().isoformat())
    path = (args.project_dir / args.out if not args.out.is_absolute() else args.out) / f"{domain}.yaml"
    if path.exists():
        current = path.read_text()
        merged = merge_spec(current, text)
        text = merged.text
        diff = list(difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(path), str(path)))
        sys.stdout.writelines(diff)
        for gone in merged.gone:
            print(f"review: {gone} is no longer in the app; the spec keeps it until you remove it")
        if not diff:
            print(f"{path}: up to date with the app")
            return OK
    if args.check:
        return FAILED if path.exists() else OK
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    pii = sum(len(p.pii) for p in proposals)
    modes = ", ".join(f"{p.table.name} {p.mode}" for p in proposals)
    print(f"{path}: {len(proposals)} table(s) ({modes}); {pii} PII column(s) proposed, marked `review:`")
    print(f"next: archival validate --connect -s domain:{domain} && archival plan -s domain:{domain}")
    return OK
