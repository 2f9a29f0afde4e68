"""Open the store of a configured target."""

from __future__ import annotations

from archival.archive.store import ArchiveStore, LocalStore
from archival.spec.model import Project


class TargetError(Exception):
    pass


def target_name(project: Project, name: str | None) -> str:
    chosen = name or project.default_target
    if chosen not in project.targets:
        raise TargetError(f"unknown target '{chosen}'; archival.yaml declares: {', '.join(sorted(project.targets))}")
    return chosen


def open_store(project: Project, name: str | None = None) -> ArchiveStore:
    target = project.targets[target_name(project, name)]
    if target.type == "local":
        assert target.path is not None
        return LocalStore((project.root / target.path).resolve())
    raise TargetError(f"target '{target.name}': {target.type} targets arrive with the export engine")
