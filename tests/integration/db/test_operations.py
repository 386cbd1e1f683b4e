"""Roles, dashboard views, pools and limits, deadlines: each checked against the real server."""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from agent_warehouse import settings
from agent_warehouse.db import audit
from agent_warehouse.rollups import hourly, views
from support import HOUR
from support.oracle import metrics, percentile_cont
from support.roles import as_role, refused
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

DAG_IDS = ("hourly_rollup", "cleanup_old_data", "refresh_materialized_views")
OLD_HOUR = datetime(2026, 1, 5, 9, tzinfo=UTC)




# ------------------------------------------------------------------------ roles
def test_job_role_does_its_job_without_ddl(wh):
    insert_runs(wh, make_runs(random.Random(1), OLD_HOUR, 200, [str(uuid.uuid4())]))
    job = as_role("agent_warehouse_job")
    try:
        assert hourly.rollup_hour(job, OLD_HOUR)["metric_rows"] == 1  # reads raw, writes analytics
        job_id = audit.start_job(job, job_type="test", dag_id="t", run_id=str(uuid.uuid4()))
        audit.finish_job(job, job_id, status="success")
        # A day near today (the job role's window, migration 0023).
        soon = datetime.now(UTC).date() + timedelta(days=20)
        with job.cursor() as cur:
            cur.execute("SELECT ops.ensure_agent_runs_partitions(%s, %s)", (soon, soon + timedelta(days=1)))
            assert cur.fetchone()[0] == 1
            cur.execute("SELECT ops.drop_expired_agent_runs('2026-01-01')")
            assert cur.fetchone()[0]["partitions"] == []
        job.commit()
        assert set(views.refresh(job)) == set(settings.DASHBOARD_VIEWS)
        for statement in (
            "DROP TABLE analytics.execution_metrics_hourly",
            f"DROP TABLE public.agent_runs_p{soon:%Y%m%d}",
            "CREATE TABLE analytics.sneaky (x int)",
            "CREATE TABLE ops.sneaky (x int)",
            "CREATE TABLE public.sneaky (x int)",
            "ALTER TABLE public.agent_runs ADD COLUMN sneaky int",
            "TRUNCATE analytics.execution_metrics_hourly",
            "REFRESH MATERIALIZED VIEW analytics.workspace_summary_30d",
            "INSERT INTO public.agent_runs (workspace_id, status, started_at) "
            "VALUES (gen_random_uuid(), 'queued', now())",
            "DELETE FROM public.agent_runs",
            "DELETE FROM ops.schema_migrations",
        ):
            assert refused(job, statement), statement
    finally:
        job.close()


def test_reader_reads_analytics_only(wh):
    reader = as_role("agent_warehouse_reader")
    try:
        with reader.cursor() as cur:
            for name in ("execution_metrics_hourly", *settings.DASHBOARD_VIEWS):
                cur.execute(f"SELECT count(*) FROM analytics.{name}")
        reader.rollback()
        for statement in (
            "INSERT INTO analytics.execution_metrics_hourly VALUES "
            "(gen_random_uuid(), now(), 1, 1, 0, 1, 1, 1, now())",
            "UPDATE analytics.execution_metrics_hourly SET total_executions = 0",
            "DELETE FROM analytics.user_activity_hourly",
            "SELECT * FROM public.agent_runs",
            "SELECT * FROM ops.job_runs",
            "SELECT ops.drop_expired_agent_runs('2026-01-01')",
            "SELECT ops.refresh_dashboard_view('workspace_summary_30d')",
            "SELECT ops.ensure_agent_runs_partitions('2031-02-01', '2031-02-02')",
            "CREATE TABLE analytics.sneaky (x int)",
        ):
            assert refused(reader, statement), statement
    finally:
        reader.close()


def test_owner_owns_the_objects_and_privileged_functions_run_as_owner(wh):
    with wh.cursor() as cur:
        # The objects of migrations 0001 and 0003 (tables of later migrations belong to
        # whoever ran them; they get the grants through default privileges).
        cur.execute("SELECT DISTINCT c.relowner::regrole::text FROM pg_class c "
                    "WHERE c.oid = ANY(ARRAY['public.agent_runs', 'public.agent_runs_default', "
                    "'analytics.execution_metrics_hourly', 'analytics.runtime_sketch_hourly', "
                    "'analytics.user_activity_hourly', 'analytics.workspace_activity_hourly', "
                    "'analytics.workspace_summary_30d', 'analytics.workspace_leaderboard_7d', "
                    "'ops.job_runs', 'ops.agent_runs_invalidations', 'ops.retention_state']::regclass[])")
        assert {r[0] for r in cur.fetchall()} == {"agent_warehouse_owner"}
        cur.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname IN ('analytics', 'ops')")
        assert {r[0] for r in cur.fetchall()} == {"agent_warehouse_owner"}
        cur.execute("SELECT proname, prosecdef, proowner::regrole::text, proconfig FROM pg_proc "
                    "WHERE proname IN ('drop_expired_agent_runs', 'ensure_agent_runs_partitions', "
                    "'create_agent_runs_partitions', 'create_agent_runs_partitions_near_today', "
                    "'refresh_dashboard_view', 'begin_rollup', 'finish_rollup')")
        rows = cur.fetchall()
    wh.commit()
    assert len(rows) == 7
    for name, secdef, owner, config in rows:
        # ensure_agent_runs_partitions runs as its caller: it chooses by the caller's role
        # between any days (the owner) and the window around today (migration 0023).
        assert secdef == (name != "ensure_agent_runs_partitions"), name
        assert owner == "agent_warehouse_owner", name
        assert "search_path=pg_catalog, pg_temp" in config, name


def test_dags_run_as_a_login_in_the_job_role(wh, dagbag, monkeypatch):
    """The real DAG runs, connected as a user that has only the job role's rights."""
    from tools import devdb

    with wh.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'aw_test_job_login'")
        if cur.fetchone() is None:
            cur.execute("CREATE ROLE aw_test_job_login LOGIN IN ROLE agent_warehouse_job")
    wh.commit()
    insert_runs(wh, make_runs(random.Random(2), OLD_HOUR, 300, [str(uuid.uuid4()) for _ in range(3)]))
    uri = devdb.connection_uri(wh.info.dbname).replace("postgres@", "aw_test_job_login@")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", uri)
    run_at = OLD_HOUR + HOUR + timedelta(minutes=5)
    assert run_dag(dagbag, "hourly_rollup", run_at, monkeypatch).state == "success"
    assert run_dag(dagbag, "refresh_materialized_views", run_at, monkeypatch).state == "success"
    assert run_dag(dagbag, "cleanup_old_data", datetime(2026, 4, 10, 3, tzinfo=UTC),
                   monkeypatch).state == "success"
    with wh.cursor() as cur:
        cur.execute("SELECT dag_id, status FROM ops.job_runs ORDER BY id")
        assert cur.fetchall() == [("hourly_rollup", "success"), ("refresh_materialized_views", "success"),
                                  ("cleanup_old_data", "success")]
        cur.execute("SELECT count(*) FROM analytics.execution_metrics_hourly WHERE hour = %s", (OLD_HOUR,))
        assert cur.fetchone()[0] == 3
    wh.commit()


# ------------------------------------------------------------------------ views
def test_dashboard_views_match_python_and_refresh_concurrently(wh):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rng = random.Random(4)
    workspaces = [str(uuid.uuid4()) for _ in range(8)]
    hours = [now - HOUR * h for h in (1, 2, 30, 24 * 10, 24 * 29)] + [now - timedelta(days=40)]
    for h in hours:
        insert_runs(wh, make_runs(rng, h, 150, workspaces))
    for h in hours:
        hourly.rollup_hour(wh, h)
    with wh.cursor() as cur:
        cur.execute("SELECT workspace_id::text, user_id::text, status, started_at, runtime_seconds, "
                    "credits_consumed FROM public.agent_runs")
        raw = cur.fetchall()
    wh.commit()

    began = time.perf_counter()
    seconds = views.refresh(wh)
    print(f"refresh of {len(seconds)} views: {time.perf_counter() - began:.3f}s {seconds}")

    # Windows as the views define them (relative to the refresh).
    since30 = datetime.now(UTC) - timedelta(days=30)
    in30 = [r for r in raw if r[3] >= since30.replace(minute=0, second=0, microsecond=0) + HOUR]
    exp = metrics(in30, since30 - HOUR, now + HOUR)
    with wh.cursor() as cur:
        cur.execute("SELECT workspace_id::text, total_executions, successful_executions, failed_executions, "
                    "avg_runtime, p95_runtime, total_credits FROM analytics.workspace_summary_30d")
        got = {r[0]: r[1:] for r in cur.fetchall()}
    wh.commit()
    assert set(got) == set(exp)
    for ws, e in exp.items():
        total, ok, failed, avg, p95, credits = got[ws]
        assert (total, ok, failed, credits) == (e["total_executions"], e["successful_executions"],
                                               e["failed_executions"], e["total_credits"])
        runtimes = [r[4] for r in in30 if r[0] == ws and r[4] is not None]
        assert math.isclose(avg, sum(runtimes) / len(runtimes), rel_tol=1e-9)
        assert abs(p95 - percentile_cont(runtimes, 0.95)) <= 0.01 * percentile_cont(runtimes, 0.95)

    since7 = now - timedelta(days=7)
    credits7: dict[str, object] = {}
    users7: dict[str, set] = {}
    for r in raw:
        if r[3] >= since7 + HOUR and r[2] in ("queued", "running", "completed", "failed", "cancelled"):
            credits7[r[0]] = credits7.get(r[0], 0) + (r[5] or 0)
            users7.setdefault(r[0], set()).add(r[1])
    with wh.cursor() as cur:
        cur.execute("SELECT workspace_id::text, credit_rank, total_credits, active_users "
                    "FROM analytics.workspace_leaderboard_7d ORDER BY credit_rank")
        board = cur.fetchall()
    wh.commit()
    assert [r[0] for r in board] == sorted(credits7, key=lambda w: -credits7[w])
    assert [r[1] for r in board] == list(range(1, len(board) + 1))
    assert all(r[2] == credits7[r[0]] and r[3] == len(users7[r[0]]) for r in board)


def test_readers_are_not_blocked_by_a_refresh(wh):
    """CONCURRENTLY: a reader holding the view open does not stop the refresh, nor vice versa."""
    reader = as_role("agent_warehouse_reader")
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT count(*) FROM analytics.workspace_summary_30d")  # keeps ACCESS SHARE
            views.refresh(wh)  # would wait for the reader's lock without CONCURRENTLY
            cur.execute("SELECT count(*) FROM analytics.workspace_summary_30d")
        reader.rollback()
    finally:
        reader.close()


# ------------------------------------------------------------- pools and limits
def test_every_task_is_pooled_limited_and_every_dag_bounded(dagbag):
    from airflow.models.pool import Pool

    assert Pool.get_pool(settings.WAREHOUSE_POOL).slots == settings.WAREHOUSE_POOL_SLOTS
    for dag_id in DAG_IDS:
        dag = dagbag.get_dag(dag_id)
        assert dag.max_active_runs <= settings.MAX_ACTIVE_RUNS and dag.max_active_tasks >= 1
        for task in dag.tasks:
            assert task.pool == settings.WAREHOUSE_POOL, (dag_id, task.task_id)
            assert task.execution_timeout is not None and task.retries >= 2
    assert dagbag.get_dag("cleanup_old_data").max_active_runs == 1
    assert dagbag.get_dag("refresh_materialized_views").max_active_runs == 1
    assert dagbag.get_dag("refresh_materialized_views").tasks[0].execution_timeout <= timedelta(minutes=2)


def test_hook_sessions_carry_statement_and_lock_timeouts(migrated):
    from agent_warehouse.db import hook_connection

    conn = hook_connection()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT (SELECT setting FROM pg_settings WHERE name = 'statement_timeout'), "
                        "(SELECT setting FROM pg_settings WHERE name = 'lock_timeout')")
            st, lt = cur.fetchone()
    finally:
        conn.close()
    assert (int(st), int(lt)) == (settings.STATEMENT_TIMEOUT_MS, settings.LOCK_TIMEOUT_MS)


# --------------------------------------------------------------------- deadlines
def test_every_dag_carries_its_deadline(dagbag):
    from airflow.sdk import DeadlineReference

    targets = {"hourly_rollup": settings.HOURLY_DEADLINE, "cleanup_old_data": settings.CLEANUP_DEADLINE,
               "refresh_materialized_views": settings.REFRESH_DEADLINE}
    assert settings.REFRESH_DEADLINE == timedelta(minutes=2)
    for dag_id, target in targets.items():
        (alert,) = dagbag.get_dag(dag_id).deadline
        assert alert.interval == target and alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
        assert alert.callback.path == "agent_warehouse.orchestration.deadlines.deadline_missed"
        assert alert.callback.kwargs["dag_id"] == dag_id


def test_a_missed_deadline_is_logged_and_recorded(wh, caplog):
    """What the triggerer does with a miss: CallbackTrigger runs the alert's callback with the
    context the scheduler sends (the run as a DAGRunResponse dump, the deadline)."""
    from airflow.triggers.callback import CallbackTrigger

    from agent_warehouse.orchestration.deadlines import deadline_alert

    alert = deadline_alert("refresh_materialized_views", settings.REFRESH_DEADLINE)
    context = {"dag_run": {"dag_id": "refresh_materialized_views", "dag_run_id": "scheduled__x"},
               "deadline": {"id": "d1", "deadline_time": "2026-06-20T03:02:00+00:00"}}
    trigger = CallbackTrigger(alert.callback.path, {**alert.callback.kwargs, "context": context})

    async def events():
        return [e.payload async for e in trigger.run()]

    with caplog.at_level("WARNING"):
        payloads = asyncio.run(events())
    assert payloads[-1]["state"] == "success", payloads
    assert "deadline missed: refresh_materialized_views scheduled__x" in caplog.text
    with wh.cursor() as cur:
        cur.execute("SELECT dag_id, run_id, deadline_minutes FROM ops.deadline_misses")
        assert cur.fetchall() == [("refresh_materialized_views", "scheduled__x", 2.0)]
    wh.commit()


@pytest.mark.parametrize("run_type", ["manual"])
def test_audit_row_has_run_type_and_trigger(wh, dagbag, monkeypatch, run_type):
    run_at = OLD_HOUR + HOUR + timedelta(minutes=5)
    dr = run_dag(dagbag, "refresh_materialized_views", run_at, monkeypatch)
    assert dr.state == "success"
    with wh.cursor() as cur:
        cur.execute("SELECT run_type, triggered_by, run_id, details FROM ops.job_runs")
        (row,) = cur.fetchall()
    wh.commit()
    assert row[0] == run_type and row[2] == dr.run_id
    assert row[1] == dr.triggering_user_name
    assert set(row[3]["refresh_seconds"]) == set(settings.DASHBOARD_VIEWS)


# ------------------------------------------------------------------ statistics
def test_job_role_refreshes_the_raw_tables_pair_statistics(wh):
    """Migration 0020: the (workspace, user) ndistinct statistics of agent_runs, built by an
    ANALYZE of the parent that the job role runs through ops.analyze_agent_runs (the cleanup
    does it daily); the hourly step's per-user pass is planned from them."""
    workspaces = [str(uuid.uuid4()) for _ in range(4)]
    insert_runs(wh, make_runs(random.Random(20), OLD_HOUR, 400, workspaces))
    job = as_role("agent_warehouse_job")
    try:
        with job.cursor() as cur:  # a plain ANALYZE would skip the table: not its owner
            cur.execute("SELECT ops.analyze_agent_runs()")
        job.commit()
    finally:
        job.close()
    with wh.cursor() as cur:
        cur.execute("SELECT n_distinct FROM pg_stats_ext WHERE schemaname = 'public' "
                    "AND statistics_name = 'agent_runs_workspace_user'")
        rows = cur.fetchall()
        cur.execute("SELECT count(DISTINCT (workspace_id, user_id)) FROM public.agent_runs")
        (pairs,) = cur.fetchone()
    wh.commit()
    assert rows and rows[0][0] is not None
    # pg_ndistinct as text, e.g. {"1, 2": 20}: exact at this size (every row is sampled)
    assert re.findall(r":\s*(\d+)", rows[0][0]) == [str(pairs)], rows
