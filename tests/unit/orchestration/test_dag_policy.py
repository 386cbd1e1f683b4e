"""DAG policy, per DAG, without any database (issue 13): tags, owner, retries, doc_md, the
warehouse pool on every task that writes, Assets on the rollups, and nothing that reaches a
database or opens a connection while the files are parsed.

Parse-time access is asserted the way apache/airflow's example-DAG tests assert it: the DAG
files are parsed with DagBag while every way to reach a database or the network is patched
to raise; any such call shows up as an import error.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[3]
DAGS = ROOT / "dags"
EXPECTED = {"hourly_rollup", "daily_rollup", "weekly_rollup", "cleanup_old_data",
            "refresh_materialized_views", "daily_signal_aggregation"}
# Tasks that only read, or only touch Airflow: none today; every task takes a pool slot.
READ_ONLY: set[str] = set()
ASSETS = {
    "hourly_rollup": {"execution_metrics_hourly", "runtime_sketch_hourly", "user_activity_hourly",
                      "workspace_activity_hourly"},
    "daily_rollup": {"execution_metrics_daily", "runtime_sketch_daily", "user_activity_daily",
                     "workspace_activity_daily", "workspace_health_daily", "daily_reports"},
    "weekly_rollup": {"execution_metrics_weekly", "runtime_sketch_weekly", "workspace_activity_weekly"},
}


def _refuse(*args, **kwargs):
    raise AssertionError("database or network access while parsing DAG files")


@pytest.fixture(scope="module")
def dagbag():
    """Every DAG file parsed with connections, sockets and the warehouse's drivers refused."""
    import psycopg
    import psycopg2  # noqa: TID251 -- patched to prove no DAG connects at parse time
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook

    with mock.patch.object(socket.socket, "connect", _refuse), \
            mock.patch.object(socket, "create_connection", _refuse), \
            mock.patch.object(psycopg, "connect", _refuse), \
            mock.patch.object(psycopg2, "connect", _refuse), \
            mock.patch.object(BaseHook, "get_connection", _refuse):
        return DagBag(dag_folder=str(DAGS))


def test_every_dag_file_parses_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == EXPECTED


def test_the_refusal_is_real():
    """A DAG file that reaches the database at parse time is reported, not silently parsed."""
    import psycopg
    from airflow.dag_processing.dagbag import DagBag

    with mock.patch.object(psycopg, "connect", _refuse), mock.patch.object(socket.socket, "connect", _refuse):
        bag = DagBag(dag_folder=str(Path(__file__).with_name("parse_time_access_dag.py")))
    assert bag.dags == {}
    assert "database or network access" in next(iter(bag.import_errors.values()))


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_policy(dagbag, dag_id):
    from agent_warehouse import settings

    dag = dagbag.dags[dag_id]
    assert dag.tags and "warehouse" in dag.tags
    assert dag.doc_md and dag.doc_md.strip().startswith(f"### {dag_id}")
    assert dag.owner == "data-platform"
    tasks = {t.task_id: t for t in dag.tasks}
    # The audit row's setup/teardown pair wraps the work (docs/audit.md).
    assert tasks["start_audit"].is_setup and tasks["finish_audit"].is_teardown
    work = [t for t in dag.tasks if t.task_id not in ("start_audit", "finish_audit")]
    assert work and all(t.task_id in tasks["finish_audit"].upstream_task_ids for t in work)
    assert not tasks["finish_audit"].on_failure_fail_dagrun  # else its success would decide the run
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.execution_timeout is not None, task.task_id
        assert task.owner == "data-platform", task.task_id
        if task.task_id not in READ_ONLY:
            assert task.pool == settings.WAREHOUSE_POOL, task.task_id
        assert "job_run_id" not in dag.params  # a run's conf never names an audit row
    written = {a.name.removeprefix("analytics.") for t in dag.tasks for a in t.outlets}
    assert written == ASSETS.get(dag_id, set())
    for t in dag.tasks:
        for asset in t.outlets:
            assert asset.uri.startswith("postgres://") and asset.uri.count("/") == 5, asset.uri


def test_parse_time_per_file_is_well_under_a_second(dagbag):
    """Each file's own cost once Airflow is imported (the DagBag above warmed the imports)."""
    import runpy

    for path in sorted(DAGS.glob("*.py")):
        began = time.perf_counter()
        runpy.run_path(str(path))
        took = time.perf_counter() - began
        assert took < 0.5, (path.name, took)


def test_dag_shape_does_not_depend_on_argv(monkeypatch):
    """`airflow dags test` used to parse DAGs without deadlines (sys.argv); now only the env does."""
    import sys

    from agent_warehouse import settings

    monkeypatch.setattr(sys, "argv", ["airflow", "dags", "test", "hourly_rollup"])
    monkeypatch.delenv("AGENT_WAREHOUSE_DEADLINES", raising=False)
    assert settings.deadlines_enabled()
    monkeypatch.setenv("AGENT_WAREHOUSE_DEADLINES", "off")
    assert not settings.deadlines_enabled()
