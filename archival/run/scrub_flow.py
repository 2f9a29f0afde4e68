"""The scrub flow (`archival-scrub`): one part of `archival scrub` a day, so that `parts` days read
every file of the archive once; damaged files are repaired from the source where it still holds them
(`repair`), and each file that stays damaged emits the Prefect event `archival.archive.corrupt` (with
the runbook) and fails the run. `archival deployments` generates a daily deployment of it."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect.artifacts import create_table_artifact
from prefect.events import emit_event

from archival.archive.targets import open_store, target_name
from archival.run.prefect_flow import archival_flow
from archival.run.scrub_repair import scrub_and_repair
from archival.spec.load import load_project
from archival.spec.select import parse_selectors, select_tables

RUNBOOK = "docs/operations.md#damaged-files"


class ArchiveCorrupt(Exception):
    pass


@archival_flow(name="archival-scrub")
def archival_scrub(project_dir: str, select: list[str] | None = None, target: str | None = None,
                   parts: int = 7, part: int | None = None, deep: bool = True, repair: bool = True) -> int:
    """`part`: which of the `parts` to read (default: the day of the year decides). Returns the files read."""
    project = load_project(project_dir)
    tables = select_tables(project, parse_selectors(select))
    store = open_store(project, target)
    n = part or datetime.now(UTC).timetuple().tm_yday % parts + 1
    outcome = scrub_and_repair(project, store, target_name(project, target), tables, (n, parts), deep, repair)
    report, damaged, left = outcome.report, outcome.report.damaged(), outcome.left
    repaired = {r.path for r in outcome.repairs if r.repaired}
    rows = [{"file": p, "finding": "; ".join(str(f) for f in damaged[p]),
             "repaired": "yes" if p in repaired else "no"} for p in sorted(damaged)]
    create_table_artifact(table=rows or [{"file": f"{len(report.files)} file(s) of part {n}/{parts}",
                                          "finding": "ok", "repaired": "-"}],
                          key=f"archival-scrub-{project.name}".lower().replace("_", "-"))
    for path in left:
        emit_event(event="archival.archive.corrupt", resource={"prefect.resource.id": f"archival.file.{path}"},
                   payload={"file": path, "findings": [str(f) for f in damaged[path]], "runbook": RUNBOOK})
    if left:
        raise ArchiveCorrupt(f"{len(left)} damaged file(s) could not be repaired from the source (first: {left[0]}); "
                             f"runbook: {RUNBOOK}")
    return len(report.files)
