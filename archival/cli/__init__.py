"""`archival` command line. Parses arguments, calls the stages, renders, and maps outcomes to exit
status: 0 ok, 1 the job or the data failed, 2 bad usage or bad spec. Holds no logic of its own.

A command's module is imported only when that command runs: each brings the libraries it needs
(DuckDB, polars, Arrow, OpenLineage, boto3 ...), about 0.6 s that `archival validate` or `--help`
would otherwise pay on every call."""

from __future__ import annotations

import importlib
import select
import sys
from collections.abc import Callable

from archival.cli.exit import CLOSED_PIPE, FAILED, USAGE, end_process
from archival.cli.parser import build_parser

COMMANDS = {"validate": "specs:cmd_validate", "ls": "specs:cmd_ls", "plan": "commands:cmd_plan",
            "run": "run:cmd_run", "verify": "commands:cmd_verify", "rebaseline": "commands:cmd_rebaseline",
            "restore": "restore:cmd_restore", "query": "query:cmd_query", "reconcile": "reconcile:cmd_reconcile",
            "deployments": "commands:cmd_deployments", "schema": "commands:cmd_schema", "init": "init:cmd_init",
            "lifecycle": "lifecycle:cmd_lifecycle", "hold": "lifecycle:cmd_hold", "cost": "cost:cmd_cost",
            "retrieve": "lifecycle:cmd_retrieve", "purge": "purge:cmd_purge", "monitoring": "operations:cmd_monitoring",
            "scrub": "scrub:cmd_scrub", "docs": "docs:cmd_docs", "automations": "operations:cmd_automations",
            "grants": "commands:cmd_grants", "audit": "audit:cmd_audit"}

# What an error means for the exit status, by class. Named, not imported: a command loads only its own
# modules, and an error's class is loaded whenever one was raised.
SPEC_ERRORS = ("archival.spec.errors:SpecErrors",)
USAGE_ERRORS = ("archival.spec.select:SelectorError", "archival.archive.targets:TargetError",
                "archival.verify.reconcile:UnknownPeriod", "archival.cli.common:RefreshUsage",
                "archival.plan.refresh:NothingToRefresh")
OPERATOR_ERRORS = ("archival.archive.state:ArchiveStateError", "archival.archive.audit_log:AuditChainError",
                   "archival.archive.store:ArchiveUnavailable", "archival.source.secrets:SecretError",
                   "archival.archive.encryption:KeyUnavailable")
SECRET_ERRORS = ("archival.source.secrets:SecretError",)  # of those, the ones a setting fixes: exit 2


def command(name: str) -> Callable[..., int]:
    module, function = COMMANDS[name].split(":")
    return getattr(importlib.import_module(f"archival.cli.{module}"), function)


def raised(exc: BaseException, classes: tuple[str, ...]) -> bool:
    """Whether `exc` is one of `classes` ("module:Class"); a class whose module was never imported
    cannot have been raised."""
    for name in classes:
        module, cls = name.split(":")
        found = getattr(sys.modules.get(module), cls, None)
        if found is not None and isinstance(exc, found):
            return True
    return False


def stdout_gone() -> bool:
    """Whether our standard output is a pipe whose reader has gone: the kernel reports an error on its
    end then (another connection's broken pipe is an error to report)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test's capture), or no poll()
        return False


def entry() -> None:
    """The `archival` console script: `main`, then a quick exit (cli/exit.py)."""
    end_process(main)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return command(args.command)(args)
    except Exception as exc:  # noqa: BLE001 - ends the command (exit 1 or 2), it never carries on
        if isinstance(exc, BrokenPipeError) and stdout_gone():
            return CLOSED_PIPE  # `archival ls | head`: whoever read the output has all they wanted
        if raised(exc, SPEC_ERRORS):
            print(exc.render(), file=sys.stderr)  # type: ignore[attr-defined]
            return USAGE
        if raised(exc, USAGE_ERRORS):
            print(f"archival: {exc}", file=sys.stderr)
            return USAGE
        if raised(exc, OPERATOR_ERRORS):
            print(f"archival {args.command}: {exc}", file=sys.stderr)
            return USAGE if raised(exc, SECRET_ERRORS) else FAILED
        if getattr(args, "debug", False):
            raise
        print(f"archival {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  (run again with --debug for the traceback)", file=sys.stderr)
        return FAILED
