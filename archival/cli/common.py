"""What the commands share: exit statuses, loading the project and its selection, and the refresh
a command's options ask for."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from archival.cli.exit import FAILED, OK, USAGE
from archival.spec.load import load_project
from archival.spec.model import Project, Table
from archival.spec.select import parse_selectors, select_tables

if TYPE_CHECKING:  # the plan package: only the commands that plan (run, plan, reconcile) import it
    from archival.plan.refresh import Refresh

__all__ = ["FAILED", "OK", "USAGE", "RefreshUsage", "load", "refresh_request"]


def load(args: argparse.Namespace) -> tuple[Project, list[Table]]:
    project = load_project(args.project_dir)
    return project, select_tables(project, parse_selectors(args.select))


def refresh_request(args: argparse.Namespace, tables: list[Table], required: bool) -> Refresh | None:
    """The refresh the options ask for; RefreshUsage when they are incomplete."""
    if not args.refresh:
        if args.period or args.reason:
            raise RefreshUsage("--period and --reason go with --refresh")
        return None
    if not args.select:
        raise RefreshUsage("--refresh needs --select (table:DOMAIN.TABLE, domain:NAME, ...); it never applies to "
                           "everything")
    if required and not args.reason:
        raise RefreshUsage("--refresh needs --reason \"...\": it is recorded in the audit chain")
    from archival.plan.refresh import Refresh

    units = tuple(f"{t.qualified_name}/{args.period}" for t in tables) if args.period else ()
    return Refresh(args.reason or "plan only", units)


class RefreshUsage(ValueError):
    """--refresh options that do not go together (exit 2)."""
