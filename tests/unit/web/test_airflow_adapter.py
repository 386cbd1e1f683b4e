"""The Airflow internals the internal API uses (``web/airflow_adapter.py``) are where the
adapter imports them from, in the installed Airflow: an upgrade that moves one fails here,
by name, instead of in the api-server at the first call."""

from __future__ import annotations

import importlib
import inspect

import pytest

from agent_warehouse.web import airflow_adapter


@pytest.mark.parametrize(("module", "name"), airflow_adapter.INTERNALS, ids=lambda v: v)
def test_each_internal_is_where_the_adapter_imports_it_from(module, name):
    found = getattr(importlib.import_module(module), name, None)
    assert found is not None, f"Airflow no longer has {module}.{name}: update web/airflow_adapter.py"


def test_trigger_dag_still_takes_the_arguments_the_adapter_passes():
    from airflow.api.common.trigger_dag import trigger_dag

    accepted = inspect.signature(trigger_dag).parameters
    for argument in ("dag_id", "run_id", "conf", "logical_date", "run_after", "triggered_by",
                     "triggering_user_name"):
        assert argument in accepted, f"trigger_dag no longer takes {argument!r}"


def test_the_adapter_names_every_airflow_import_it_makes():
    """INTERNALS is the whole list: every ``from airflow... import x`` in the adapter is in it."""
    source = inspect.getsource(airflow_adapter)
    imported = {(line.split()[1], line.split()[3]) for line in source.splitlines()
                if line.strip().startswith("from airflow.")
                for line in [line.strip()]}
    assert imported == set(airflow_adapter.INTERNALS)


def test_only_the_adapter_reaches_into_airflow_internals():
    from pathlib import Path

    package = Path(airflow_adapter.__file__).parents[1]
    users = sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                   if p.name != "airflow_adapter.py"
                   and any(f"import {name}" in p.read_text() for _, name in airflow_adapter.INTERNALS
                           if name in ("DagModel", "create_session", "trigger_dag")))
    assert users == []
