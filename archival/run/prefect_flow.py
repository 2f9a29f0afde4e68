"""archival's flows as Prefect Flows whose parameters are encoded for the API by pydantic, which
Prefect has imported already, instead of FastAPI's `jsonable_encoder`: Flow.serialize_parameters
imports FastAPI for it (its routing, OpenAPI and dependency models), 0.15-0.5 s on the serial path of
every flow's start, before the first unit (docs/performance.md). The parameters are strings, lists,
booleans, datetimes and plain dataclasses, which both encode alike (an aware datetime as `...Z`
instead of `...+00:00`, the same instant, which Prefect parses back the same)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import Flow
from prefect.futures import PrefectFuture
from prefect.states import State
from pydantic_core import PydanticSerializationError, to_jsonable_python


class ArchivalFlow(Flow):
    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        encoded: dict[str, Any] = {}
        for name, value in parameters.items():
            if isinstance(value, (PrefectFuture, State)):  # as Prefect does: never evaluate them
                encoded[name] = f"<{type(value).__name__}>"
                continue
            try:
                encoded[name] = to_jsonable_python(value)
            except PydanticSerializationError:  # as Prefect does: the API keeps the type's name only
                encoded[name] = f"<{type(value).__name__}>"
        return encoded

    def with_options(self, **options: Any) -> ArchivalFlow:
        made = super().with_options(**options)
        made.__class__ = ArchivalFlow  # Prefect builds a plain Flow: the same state, and this encoder
        return made


def archival_flow(**options: Any) -> Callable[[Callable[..., Any]], ArchivalFlow]:
    """`@flow(**options)` making an ArchivalFlow."""
    return lambda fn: ArchivalFlow(fn=fn, **options)
