"""archival's flows encode their parameters without FastAPI (run/prefect_flow.py): what the API
stores is what Prefect's own encoder stores, and starting a flow does not import FastAPI."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
from fastapi.encoders import jsonable_encoder
from prefect.states import Completed

from archival.plan.refresh import Refresh
from archival.run.context import Tuning
from archival.run.flow import archival_run
from archival.run.prefect_flow import ArchivalFlow
from archival.run.runners import task_runner

PARAMETERS = {"project_dir": "/srv/project", "select": ["domain:sales", "tag:pii"], "target": None,
              "as_of": datetime(2026, 11, 27, 10, 30), "tuning": Tuning(), "ignore_quiet_hours": True,
              "refresh": Refresh("a source fix", ("sales.orders/2026-11",)), "verbose": False}


def test_the_parameters_are_encoded_as_prefects_encoder_does():
    assert archival_run.serialize_parameters(PARAMETERS) == jsonable_encoder(PARAMETERS)


def test_an_aware_instant_stays_the_same_instant():
    at = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
    encoded = archival_run.serialize_parameters({"as_of": at})["as_of"]
    assert datetime.fromisoformat(encoded) == at


def test_what_cannot_be_encoded_keeps_its_type_name_and_states_are_not_evaluated():
    class Opaque:
        pass
    encoded = archival_run.serialize_parameters({"odd": Opaque(), "state": Completed()})
    assert encoded == {"odd": "<Opaque>", "state": "<State>"}


def test_with_options_keeps_the_encoder():
    chosen = archival_run.with_options(task_runner=task_runner("thread"))
    assert isinstance(chosen, ArchivalFlow) and chosen.name == "archival-run"


@pytest.mark.parametrize("module", ["flow", "lifecycle_flow", "purge_flow", "scrub_flow", "reconcile_flow"])
def test_every_flow_of_archival_is_one(module):
    imported = __import__(f"archival.run.{module}", fromlist=["*"])
    flows = [v for v in vars(imported).values() if type(v).__name__.endswith("Flow")]
    assert flows and all(isinstance(f, ArchivalFlow) for f in flows)


def test_encoding_the_parameters_does_not_import_fastapi():
    code = textwrap.dedent("""
        import sys
        from archival.run.flow import archival_run
        archival_run.serialize_parameters({"project_dir": "p", "select": ["a"]})
        print("fastapi" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
