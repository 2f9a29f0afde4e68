"""Spec errors that point at `file:line:col` with the offending line and a caret (Dagster style)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SpecError:
    file: str  # as shown to the user: relative to the project directory
    line: int  # 1-based; 0 when the problem is about the file as a whole
    col: int  # 1-based
    message: str
    hint: str | None = None
    snippet: str | None = None  # the source line, already redacted when it may hold a secret
    width: int = 1

    def render(self) -> str:
        head = f"{self.file}:{self.line}:{self.col}: {self.message}"
        lines = [head]
        if self.snippet is not None and self.line > 0:
            gutter = f"{self.line:>5} | "
            lines.append(gutter + self.snippet.rstrip("\n"))
            lines.append(" " * (len(gutter) - 2) + "| " + " " * (self.col - 1) + "^" * max(1, self.width))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class SpecErrors(Exception):
    """All errors of all files of one load; raised only after everything was checked."""

    def __init__(self, errors: list[SpecError]):
        self.errors = sorted(set(errors))
        super().__init__(f"{len(self.errors)} spec error(s)")

    def render(self) -> str:
        body = "\n".join(e.render() for e in self.errors)
        files = len({e.file for e in self.errors})
        noun = "error" if len(self.errors) == 1 else "errors"
        return f"{body}\n\n{len(self.errors)} {noun} in {files} file(s); nothing was run."
