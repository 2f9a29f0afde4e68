"""`archival deployments`: the Prefect deployments of prefect.yaml, generated from the specs. One per
domain: the archival-run flow with `select: [domain:NAME]`, the domain's cron and time zone, its tags,
a concurrency limit of one (two runs of a domain never overlap), a metrics file of its own and a work
pool. Deployments carry the tag `archival:generated`; everything else in the file (hand-written
deployments, pull steps, comments) is kept as it is. A spec without a schedule gets a deployment
without one."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from archival.spec.model import Domain, Project
from archival.spec.roundtrip import round_trip_yaml

GENERATED_TAG = "archival:generated"
ENTRYPOINT = "flows/export.py:archival_run"
LIFECYCLE_ENTRYPOINT = "flows/lifecycle.py:archival_lifecycle"
PURGE_ENTRYPOINT = "flows/purge.py:archival_purge"
SCRUB_ENTRYPOINT = "flows/scrub.py:archival_scrub"
DEFAULT_WORK_POOL = "archival"


def deployment_for(domain: Domain, work_pool: str) -> CommentedMap:
    deployment = CommentedMap()
    deployment["name"] = domain.name
    deployment["description"] = (domain.description or f"archive of domain {domain.name}") + f" ({domain.file})"
    deployment["entrypoint"] = ENTRYPOINT
    deployment["tags"] = CommentedSeq(["archival", GENERATED_TAG, f"domain:{domain.name}", *domain.tags])
    # each domain's run writes its own metrics file: a textfile collector reads the folder (docs/operations.md)
    deployment["parameters"] = CommentedMap(project_dir=".", select=CommentedSeq([f"domain:{domain.name}"]),
                                            metrics_file=f"metrics/archival-{domain.name}.prom")
    schedules = CommentedSeq()
    if domain.schedule is not None:
        schedules.append(CommentedMap(cron=domain.schedule.cron, timezone=domain.schedule.timezone))
    deployment["schedules"] = schedules
    deployment["concurrency_limit"] = 1
    deployment["work_pool"] = CommentedMap(name=work_pool)
    return deployment


def _daily(name: str, description: str, entrypoint: str, cron: str, work_pool: str) -> CommentedMap:
    deployment = CommentedMap()
    deployment["name"] = name
    deployment["description"] = description
    deployment["entrypoint"] = entrypoint
    deployment["tags"] = CommentedSeq(["archival", GENERATED_TAG, name])
    deployment["parameters"] = CommentedMap(project_dir=".")
    deployment["schedules"] = CommentedSeq([CommentedMap(cron=cron, timezone="UTC")])
    deployment["concurrency_limit"] = 1
    deployment["work_pool"] = CommentedMap(name=work_pool)
    return deployment


def lifecycle_deployment(work_pool: str) -> CommentedMap:
    """Daily: moves aged periods to their tiers and expires what retention ends (docs/lifecycle.md)."""
    return _daily("lifecycle", "archival lifecycle: tiers and expiry of every table with a retention",
                  LIFECYCLE_ENTRYPOINT, "15 5 * * *", work_pool)


def purge_deployment(work_pool: str) -> CommentedMap:
    """Daily: takes archived rows out of the sources (docs/purge.md); it checks each domain's quiet
    hours before every batch and stops inside them."""
    return _daily("purge", "archival purge: archived rows out of the sources, for every table with purge:",
                  PURGE_ENTRYPOINT, "45 3 * * *", work_pool)



def scrub_deployment(work_pool: str) -> CommentedMap:
    """Daily: one seventh of the archive's files read and checked, damage repaired from the source."""
    return _daily("scrub", "archival scrub: a seventh of the archive's files a day, repaired from the source",
                  SCRUB_ENTRYPOINT, "30 4 * * *", work_pool)


def render(current: str, project: Project, work_pool: str = DEFAULT_WORK_POOL) -> str:
    """prefect.yaml with the generated deployments replaced by those of `project`'s specs."""
    yaml = round_trip_yaml()
    document: Any = yaml.load(current) if current.strip() else CommentedMap()
    if document is None:
        document = CommentedMap()
    document.setdefault("name", project.name)
    kept = [d for d in document.get("deployments") or [] if GENERATED_TAG not in (d.get("tags") or [])]
    generated = [deployment_for(domain, work_pool) for domain in project.domains]
    if any(t.retention.hot or t.retention.cool or t.retention.cold for d in project.domains for t in d.tables):
        generated.append(lifecycle_deployment(work_pool))
    if any(t.purge is not None for d in project.domains for t in d.tables):
        generated.append(purge_deployment(work_pool))
    if project.domains:
        generated.append(scrub_deployment(work_pool))
    document["deployments"] = CommentedSeq([*kept, *generated])
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def sync_file(path: Path, project: Project, work_pool: str = DEFAULT_WORK_POOL, *, write: bool = True) -> bool:
    """Bring `path` (prefect.yaml) in line with the specs. Returns True if it was out of date; with
    `write=False` nothing is changed (a CI check)."""
    current = path.read_text() if path.exists() else ""
    wanted = render(current, project, work_pool)
    if wanted != current and write:
        path.write_text(wanted)
    return wanted != current
