"""Faults: a task failing mid-period, an unreachable warehouse, a lock held elsewhere.

In each case the period is either written whole or not at all, the retry (or the next
run) makes it exact, and the run ends instead of hanging.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from agent_warehouse import settings
from agent_warehouse.db import connect
from agent_warehouse.rollups import hourly
from support import HOUR
from support.checks import assert_exact, hourly_rows
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

H0 = datetime(2026, 1, 7, 9, tzinfo=UTC)
RUN_AT = H0 + HOUR + timedelta(minutes=5)


@pytest.fixture()
def workspaces():
    return [str(uuid.uuid4()) for _ in range(8)]


def tries(dr, task_id: str) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(TaskInstance.try_number).where(
            TaskInstance.dag_id == dr.dag_id, TaskInstance.run_id == dr.run_id,
            TaskInstance.task_id == task_id))


@pytest.fixture()
def fail_once(wh):
    """Test-only hook: the next write to analytics.user_activity_hourly raises. The rollup
    script writes execution_metrics_hourly and runtime_sketch_hourly before it, so a failure
    there comes after part of the hour is written (inside the transaction)."""
    with wh.cursor() as cur:
        cur.execute("""
            CREATE SCHEMA IF NOT EXISTS test_faults;
            DROP SEQUENCE IF EXISTS test_faults.writes;
            CREATE SEQUENCE test_faults.writes;  -- nextval survives the rollback
            CREATE OR REPLACE FUNCTION test_faults.fail_first() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('test_faults.writes') = 1 THEN
                    RAISE EXCEPTION 'injected failure after part of the hour was written';
                END IF;
                RETURN NULL;
            END $$;
            CREATE TRIGGER fail_first BEFORE INSERT ON analytics.user_activity_hourly
                FOR EACH STATEMENT EXECUTE FUNCTION test_faults.fail_first();
        """)
    wh.commit()
    yield
    with wh.cursor() as cur:
        cur.execute("DROP TRIGGER fail_first ON analytics.user_activity_hourly; "
                    "DROP SCHEMA test_faults CASCADE")
    wh.commit()


def test_failure_mid_hour_leaves_nothing_and_retry_is_exact(wh, workspaces, fail_once):
    insert_runs(wh, make_runs(random.Random(1), H0, 800, workspaces))
    with pytest.raises(psycopg.errors.RaiseException, match="injected failure"):
        hourly.rollup_hour(wh, H0)
    assert hourly_rows(wh, H0) == []  # the metrics written before the failure are gone
    with wh.cursor() as cur:
        cur.execute("SELECT count(*) FROM analytics.runtime_sketch_hourly WHERE hour = %s", (H0,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM ops.agent_runs_invalidations WHERE hour = %s", (H0,))
        assert cur.fetchone()[0] > 0  # still marked dirty: the next run repairs it
    wh.commit()
    hourly.rollup_hour(wh, H0)
    assert_exact(wh, H0)


def test_dag_task_failing_mid_hour_retries_to_exact_rows(wh, dagbag, workspaces, monkeypatch, fail_once):
    insert_runs(wh, make_runs(random.Random(2), H0, 800, workspaces))
    dr = run_dag(dagbag, "hourly_rollup", RUN_AT, monkeypatch)
    assert dr.state == "success"
    assert tries(dr, "rollup_hour") == 2  # the first try failed mid-hour, the retry wrote it all
    assert_exact(wh, H0)


def test_unreachable_warehouse_fails_cleanly_and_the_next_run_catches_up(wh, dagbag, workspaces,
                                                                         monkeypatch):
    import os

    insert_runs(wh, make_runs(random.Random(3), H0, 500, workspaces))
    insert_runs(wh, make_runs(random.Random(4), H0 + HOUR, 500, workspaces))
    good = os.environ["AIRFLOW_CONN_WAREHOUSE"]
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://postgres@127.0.0.1:1/warehouse")  # closed port
    began = time.perf_counter()
    dr = run_dag(dagbag, "hourly_rollup", RUN_AT, monkeypatch)
    print(f"run against an unreachable warehouse ended {dr.state} after {time.perf_counter() - began:.1f}s")
    assert dr.state == "failed"
    assert tries(dr, "start_audit") == settings.RETRIES + 1  # its schema check retried, then gave up
    assert hourly_rows(wh, H0) == []

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", good)
    assert run_dag(dagbag, "hourly_rollup", RUN_AT + HOUR, monkeypatch).state == "success"
    assert_exact(wh, H0)  # repaired from the invalidation log
    assert_exact(wh, H0 + HOUR)


def test_lock_held_elsewhere_makes_the_run_wait_time_out_and_retry(wh, dagbag, workspaces, monkeypatch):
    insert_runs(wh, make_runs(random.Random(5), H0, 500, workspaces))
    dag = dagbag.get_dag("hourly_rollup")
    # A short lock_timeout for this run only (the setting is read when the DAG is parsed).
    monkeypatch.setattr(dag.get_task("rollup_hour"), "hook_params",
                        {"options": "-c statement_timeout=60000 -c lock_timeout=500"})
    holder = connect()
    with holder.cursor() as cur:  # another session holds the hour's lock
        cur.execute("SELECT pg_advisory_xact_lock(7310003, (extract(epoch FROM %s::timestamptz) / 3600)::integer)",
                    (H0,))
    timed_out = threading.Event()

    def release_after_one_timeout() -> None:
        watcher = connect()
        seen_waiter = False
        with watcher.cursor() as cur:
            for _ in range(1200):
                cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                waiting = cur.fetchone()[0] > 0
                watcher.commit()
                if waiting:
                    seen_waiter = True
                elif seen_waiter:  # the waiter gave up at lock_timeout
                    timed_out.set()
                    break
                time.sleep(0.05)
        watcher.close()
        holder.rollback()  # let the retry through
        holder.close()

    t = threading.Thread(target=release_after_one_timeout)
    t.start()
    dr = run_dag(dagbag, "hourly_rollup", RUN_AT, monkeypatch)
    t.join(timeout=120)
    assert timed_out.is_set()
    assert dr.state == "success"
    assert tries(dr, "rollup_hour") >= 2
    assert_exact(wh, H0)
