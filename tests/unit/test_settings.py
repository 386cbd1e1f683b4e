"""Settings mean what they say (issue 18 §3): every DAG, parsed under non-default
AGENT_WAREHOUSE_* variables, carries them: catchup, deadlines, retries, pool (no database)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEDULED = {"hourly_rollup", "daily_rollup", "weekly_rollup", "cleanup_old_data", "daily_signal_aggregation"}
ALL = SCHEDULED | {"refresh_materialized_views"}
DEADLINES = {"hourly_rollup": 7, "daily_rollup": 11, "weekly_rollup": 13, "cleanup_old_data": 17,
             "refresh_materialized_views": 3, "daily_signal_aggregation": 19}
DEFAULT_DEADLINES = {"hourly_rollup": 5, "daily_rollup": 15, "weekly_rollup": 30, "cleanup_old_data": 30,
                     "refresh_materialized_views": 2, "daily_signal_aggregation": 60}


def _parse(monkeypatch, env: dict[str, str]):
    from airflow.dag_processing.dagbag import DagBag

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == ALL
    return bag


def _deadline(dag) -> timedelta | None:
    alerts = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    (alert,) = alerts
    return alert.interval if alert is not None else None


def test_every_dag_honours_every_setting(monkeypatch):
    env = {"AGENT_WAREHOUSE_CATCHUP": "false", "AGENT_WAREHOUSE_RETRIES": "5",
           "AGENT_WAREHOUSE_RETRY_DELAY_SECONDS": "7", "AGENT_WAREHOUSE_MAX_RETRY_DELAY_MINUTES": "3",
           "AGENT_WAREHOUSE_EXECUTION_TIMEOUT_MINUTES": "41", "AGENT_WAREHOUSE_POOL": "other_writers",
           "AGENT_WAREHOUSE_MAX_ACTIVE_RUNS": "2", "AGENT_WAREHOUSE_MAX_ACTIVE_TASKS": "3",
           "AGENT_WAREHOUSE_START_DATE": "2025-03-04T00:00:00+00:00", "AGENT_WAREHOUSE_DEADLINES": "on",
           "AGENT_WAREHOUSE_ASSET_DATABASE_URI": "postgres://db.example:6543/wh"}
    env |= {f"AGENT_WAREHOUSE_{k.upper()}_DEADLINE_MINUTES": str(v) for k, v in
            {"hourly": 7, "daily": 11, "weekly": 13, "cleanup": 17, "refresh": 3, "signals": 19}.items()}
    bag = _parse(monkeypatch, env)
    for dag_id in sorted(ALL):
        dag = bag.dags[dag_id]
        assert dag.catchup is False, dag_id
        assert _deadline(dag) == timedelta(minutes=DEADLINES[dag_id]), dag_id
        assert dag.start_date == datetime(2025, 3, 4, tzinfo=UTC), dag_id
        if dag_id in SCHEDULED:  # cleanup runs one day at a time, by design
            assert dag.max_active_tasks == 3, dag_id
            assert dag.max_active_runs == (1 if dag_id == "cleanup_old_data" else 2), dag_id
        for task in dag.tasks:
            where = (dag_id, task.task_id)
            assert task.retries == 5, where
            assert task.retry_delay == timedelta(seconds=7), where
            assert task.max_retry_delay == timedelta(minutes=3), where
            assert task.pool == "other_writers", where
            if dag_id != "refresh_materialized_views":
                assert task.execution_timeout == timedelta(minutes=41), where
            for asset in task.outlets:
                assert asset.uri.startswith("postgres://db.example:6543/wh/analytics/"), where


def test_defaults(monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith("AGENT_WAREHOUSE_"):
            monkeypatch.delenv(k)
    bag = _parse(monkeypatch, {})
    for dag_id in sorted(ALL):
        dag = bag.dags[dag_id]
        # A refresh rebuilds the current contents: catching up would only repeat it.
        assert dag.catchup is (dag_id in SCHEDULED), dag_id
        assert _deadline(dag) == timedelta(minutes=DEFAULT_DEADLINES[dag_id]), dag_id
        assert {t.retries for t in dag.tasks} == {2} and {t.pool for t in dag.tasks} == {"warehouse_writers"}


def test_deadlines_off(monkeypatch):
    bag = _parse(monkeypatch, {"AGENT_WAREHOUSE_DEADLINES": "off"})
    assert all(_deadline(d) is None for d in bag.dags.values())


def test_a_second_parse_in_one_process_follows_the_environment(monkeypatch):
    """The dag-processor parses the same file again and again in one process: each parse
    reads the settings then, not a copy taken when the package was first imported."""
    assert _parse(monkeypatch, {"AGENT_WAREHOUSE_RETRIES": "3"}).dags["hourly_rollup"].tasks[0].retries == 3
    assert _parse(monkeypatch, {"AGENT_WAREHOUSE_RETRIES": "4"}).dags["hourly_rollup"].tasks[0].retries == 4


def test_a_bad_value_names_its_variable(monkeypatch):
    from pydantic import ValidationError

    from agent_warehouse import settings

    monkeypatch.setenv("AGENT_WAREHOUSE_RETRIES", "abc")
    with pytest.raises(ValidationError, match="retries"):
        settings.current()


LEGACY = {"START_DATE", "CATCHUP", "MAX_ACTIVE_RUNS", "MAX_ACTIVE_TASKS", "RETRIES", "RETRY_DELAY",
          "MAX_RETRY_DELAY", "EXECUTION_TIMEOUT", "REFRESH_EXECUTION_TIMEOUT", "STATEMENT_TIMEOUT_MS",
          "LOCK_TIMEOUT_MS", "IDLE_IN_TRANSACTION_TIMEOUT_MS", "PARTITIONS_AHEAD_DAYS", "HOURLY_DEADLINE",
          "DAILY_DEADLINE", "WEEKLY_DEADLINE", "CLEANUP_DEADLINE", "REFRESH_DEADLINE", "SIGNALS_DEADLINE",
          "REPORTS_DIR", "WAREHOUSE_POOL", "WAREHOUSE_POOL_SLOTS", "RAW_RETENTION_DAYS",
          "HOURLY_RETENTION_DAYS", "JOB_RUNS_RETENTION_DAYS", "ASSET_DATABASE_URI", "hook_params",
          "deadlines_enabled", "signals_providers", "signals_drop_dir", "signals_provider_timeout",
          "signals_top_n"}


def test_legacy_names_read_the_object_when_looked_up(monkeypatch):
    """The upper-case names of earlier versions are no copies: they follow the environment."""
    from agent_warehouse import settings

    monkeypatch.setenv("AGENT_WAREHOUSE_RETRIES", "9")
    monkeypatch.setenv("AGENT_WAREHOUSE_HOURLY_DEADLINE_MINUTES", "8")
    assert (settings.RETRIES, settings.HOURLY_DEADLINE) == (9, timedelta(minutes=8))
    assert "RETRIES" not in vars(settings)


def test_package_code_reads_settings_one_way():
    """agent_warehouse/, dags/, plugins/ and tools/ read settings.current(), never the legacy names."""
    offenders = []
    for folder in ("agent_warehouse", "dags", "plugins", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "settings.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in LEGACY and \
                        isinstance(node.value, ast.Name) and node.value.id == "settings":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: settings.{node.attr}")
    assert offenders == []
