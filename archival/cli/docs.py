"""`archival docs`: the static HTML catalog of the project and its archive (archival/catalog/)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import sys
from datetime import UTC, datetime
from pathlib import Path

from archival.archive.targets import open_store
from archival.catalog.facts import gather
from archival.catalog.page import render
from archival.cli.common import OK, load


def cmd_docs(args: argparse.Namespace) -> int:
    project, tables = load(args)
    facts = gather(project, open_store(project, args.target), tables, datetime.now(UTC))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(render(facts), encoding="utf-8")
    print(f"wrote {out / 'index.html'}: {sum(len(t) for _, t in facts.domains)} table(s), {len(facts.runs)} recent "
          "run(s)")
    if args.serve:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
        with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
            print(f"serving http://127.0.0.1:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it ends
                server.serve_forever()
    return OK
