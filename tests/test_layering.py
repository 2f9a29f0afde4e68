"""One direction of data flow: a stage imports only the stages before it, and nothing in archival/
imports the CLI (DESIGN.md). Parsed from the source, so a violation fails before anyone runs it."""

import ast

from tests.conftest import ROOT

ORDER = ["spec", "source", "platform", "archive", "plan", "extract", "check", "write", "record", "lifecycle", "verify",
         "restore", "purge", "query", "catalog", "run"]  # README
PACKAGE = ROOT / "archival"


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_stages_import_only_earlier_stages():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).parts
        if rel[0] not in ORDER:
            continue
        rank = ORDER.index(rel[0])
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "archival" or len(parts) < 2:
                continue
            if parts[1] == "cli":
                problems.append(f"{path.relative_to(ROOT)} imports the CLI")
            elif parts[1] in ORDER and ORDER.index(parts[1]) > rank:
                problems.append(f"{path.relative_to(ROOT)} imports later stage {module}")
    assert not problems, "\n".join(problems)
