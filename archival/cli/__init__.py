"""`archival` command line. Parses arguments, calls the stages, renders, and maps outcomes to exit
status: 0 ok, 1 the job or the data failed, 2 bad usage or bad spec. Holds no logic of its own."""

from __future__ import annotations

import sys

from archival.archive.audit_log import AuditChainError
from archival.archive.encryption import KeyUnavailable
from archival.archive.state import ArchiveStateError
from archival.archive.store import ArchiveUnavailable
from archival.archive.targets import TargetError
from archival.cli.audit import cmd_audit
from archival.cli.commands import (
    cmd_deployments,
    cmd_grants,
    cmd_ls,
    cmd_plan,
    cmd_rebaseline,
    cmd_schema,
    cmd_validate,
    cmd_verify,
)
from archival.cli.common import FAILED, USAGE, RefreshUsage
from archival.cli.cost import cmd_cost
from archival.cli.docs import cmd_docs
from archival.cli.exit import end_process
from archival.cli.init import cmd_init
from archival.cli.lifecycle import cmd_hold, cmd_lifecycle, cmd_retrieve
from archival.cli.operations import cmd_automations, cmd_monitoring
from archival.cli.parser import build_parser
from archival.cli.purge import cmd_purge
from archival.cli.query import cmd_query
from archival.cli.restore import cmd_restore
from archival.cli.run import cmd_reconcile, cmd_run
from archival.cli.scrub import cmd_scrub
from archival.plan.refresh import NothingToRefresh
from archival.source.secrets import SecretError
from archival.spec.errors import SpecErrors
from archival.spec.select import SelectorError
from archival.verify.reconcile import UnknownPeriod

COMMANDS = {"validate": cmd_validate, "ls": cmd_ls, "plan": cmd_plan, "run": cmd_run, "verify": cmd_verify,
            "rebaseline": cmd_rebaseline, "restore": cmd_restore, "query": cmd_query, "reconcile": cmd_reconcile,
            "deployments": cmd_deployments, "schema": cmd_schema, "init": cmd_init,
            "lifecycle": cmd_lifecycle, "hold": cmd_hold, "cost": cmd_cost,
            "retrieve": cmd_retrieve, "purge": cmd_purge, "monitoring": cmd_monitoring,
            "scrub": cmd_scrub, "docs": cmd_docs,
            "automations": cmd_automations, "grants": cmd_grants, "audit": cmd_audit}


def entry() -> None:
    """The `archival` console script: `main`, then a quick exit (cli/exit.py)."""
    end_process(main)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SpecErrors as exc:
        print(exc.render(), file=sys.stderr)
        return USAGE
    except (SelectorError, TargetError, UnknownPeriod, RefreshUsage, NothingToRefresh) as exc:
        print(f"archival: {exc}", file=sys.stderr)
        return USAGE
    except (ArchiveStateError, AuditChainError, ArchiveUnavailable, SecretError, KeyUnavailable) as exc:
        print(f"archival {args.command}: {exc}", file=sys.stderr)
        return USAGE if isinstance(exc, SecretError) else FAILED
    except Exception as exc:  # noqa: BLE001 - ends the command (exit 1), it never carries on
        if getattr(args, "debug", False):
            raise
        print(f"archival {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  (run again with --debug for the traceback)", file=sys.stderr)
        return FAILED
