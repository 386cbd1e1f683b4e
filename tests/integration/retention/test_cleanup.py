"""cleanup_old_data: raw days leave by whole partitions, only once their hours are exact."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from agent_warehouse.retention import cleanup as retention
from agent_warehouse.rollups import hourly
from support import HOUR
from support.oracle import metrics
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

RUN_AT = datetime(2026, 6, 20, 3, tzinfo=UTC)  # treats 20 June as today: keeps 22 March on
EXPIRED = [datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 3, 21, tzinfo=UTC)]
KEPT = datetime(2026, 3, 22, tzinfo=UTC)
NO_PARTITION = datetime(2026, 3, 19, tzinfo=UTC)  # rows of a day without partition: default


@pytest.fixture()
def workspaces():
    return [str(uuid.uuid4()) for _ in range(6)]


def partitions(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'public.agent_runs'::regclass")
        names = {r[0] for r in cur.fetchall()}
    conn.commit()
    return names


def raw_rows(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT workspace_id::text, user_id::text, status, started_at, runtime_seconds, "
                    "credits_consumed FROM public.agent_runs")
        rows = cur.fetchall()
    conn.commit()
    return rows


def snapshot(rows):
    return sorted(map(repr, rows))


def rollups(conn, start, end):
    with conn.cursor() as cur:
        cur.execute("SELECT workspace_id::text, hour, total_executions, successful_executions, "
                    "failed_executions, avg_runtime, p95_runtime, total_credits "
                    "FROM analytics.execution_metrics_hourly WHERE hour >= %s AND hour < %s", (start, end))
        rows = cur.fetchall()
    conn.commit()
    return {(r[0], r[1]): r[2:] for r in rows}


def expected_rollups(rows, start, end):
    out = {}
    hour = start
    while hour < end:
        for ws, m in metrics(rows, hour, hour + HOUR).items():
            out[(ws, hour)] = (m["total_executions"], m["successful_executions"], m["failed_executions"],
                               m["avg_runtime"], m["p95_runtime"], m["total_credits"])
        hour += HOUR
    return out


def assert_same(got, expected):
    assert set(got) == set(expected)
    for key, exp in expected.items():
        row = got[key]
        assert row[0:3] == exp[0:3] and row[5] == exp[5], key
        for a, b in zip(row[3:5], exp[3:5], strict=True):
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-9), key


def load_old_days(conn, workspaces):
    """Four old days: two expiring with partitions, one expiring in the default partition, one kept.
    Some hours rolled up and current, some dirty, some never rolled up with no log entry."""
    rng = random.Random(11)
    with conn.cursor() as cur:
        cur.execute("SELECT ops.ensure_agent_runs_partitions('2026-03-20', '2026-03-23')")
    conn.commit()
    for day in [NO_PARTITION, *EXPIRED, KEPT]:
        for h in (1, 7, 23):
            insert_runs(conn, make_runs(rng, day + h * HOUR, 40, workspaces))
    clean = EXPIRED[0] + 1 * HOUR
    hourly.rollup_hour(conn, clean)  # current
    hourly.rollup_hour(conn, EXPIRED[0] + 7 * HOUR)
    insert_runs(conn, make_runs(rng, EXPIRED[0] + 7 * HOUR, 5, workspaces))  # now dirty
    with conn.cursor() as cur:  # rolled up never, and its log entries lost
        cur.execute("DELETE FROM ops.agent_runs_invalidations WHERE hour = %s", (EXPIRED[1] + 23 * HOUR,))
    conn.commit()


def test_cleanup_drops_expired_days_after_making_them_exact(wh, dagbag, workspaces, monkeypatch):
    load_old_days(wh, workspaces)
    before = raw_rows(wh)
    expected = expected_rollups(before, NO_PARTITION, KEPT)
    kept_rows = snapshot(r for r in before if r[3] >= KEPT)

    assert run_dag(dagbag, "cleanup_old_data", RUN_AT, monkeypatch).state == "success"

    names = partitions(wh)
    assert "agent_runs_p20260320" not in names and "agent_runs_p20260321" not in names
    assert {"agent_runs_p20260322", "agent_runs_p20260620", "agent_runs_p20260623"} <= names
    assert snapshot(raw_rows(wh)) == kept_rows  # 22 March on untouched, everything older gone
    assert_same(rollups(wh, NO_PARTITION, KEPT), expected)  # every dropped hour exact
    with wh.cursor() as cur:
        cur.execute("SELECT status, run_type, period_start, period_end, details FROM ops.job_runs "
                    "WHERE job_type = 'cleanup_old_data'")
        status, run_type, p_start, p_end, details = cur.fetchone()
        cur.execute("SELECT raw_kept_from FROM ops.retention_state")
        assert cur.fetchone()[0] == KEPT
    wh.commit()
    assert status == "success" and run_type == "manual"
    assert (p_start, p_end) == (RUN_AT - timedelta(hours=27), RUN_AT - timedelta(hours=3))
    assert details["raw_kept_from"] == "2026-03-22"
    assert details["dropped_partitions"] == ["agent_runs_p20260320", "agent_runs_p20260321"]
    assert details["default_rows_deleted"] == 120
    # 19 March: 3 hours never rolled up; 20th: 07 dirty, 23 never (01 was current); 21st: 3.
    assert len(details["hours_repaired"]) == 8
    assert "2026-03-20T01:00:00Z" not in details["hours_repaired"]

    # Dropping logged nothing: the next hourly runs leave the dropped days' rollups alone,
    # even when a late row for a dropped day arrives (it lands in the default partition).
    insert_runs(wh, make_runs(random.Random(3), EXPIRED[0] + 1 * HOUR, 3, workspaces))
    assert run_dag(dagbag, "hourly_rollup", datetime(2026, 6, 20, 4, 5, tzinfo=UTC),
                   monkeypatch).state == "success"
    assert_same(rollups(wh, NO_PARTITION, KEPT), expected)

    # A second run for the same day is a no-op apart from the late row.
    assert run_dag(dagbag, "cleanup_old_data", RUN_AT + timedelta(minutes=1), monkeypatch).state == "success"
    assert snapshot(raw_rows(wh)) == kept_rows
    assert_same(rollups(wh, NO_PARTITION, KEPT), expected)


def test_cleanup_refuses_and_drops_nothing_when_hours_cannot_be_rolled_up(wh, dagbag, workspaces,
                                                                         monkeypatch):
    load_old_days(wh, workspaces)
    before = snapshot(raw_rows(wh))
    # A rollup that silently does nothing: the hours stay stale, so nothing may be dropped.
    monkeypatch.setattr(retention.hourly, "rollup_hour", lambda conn, hour: None)
    assert run_dag(dagbag, "cleanup_old_data", RUN_AT, monkeypatch).state == "failed"
    assert {"agent_runs_p20260320", "agent_runs_p20260321"} <= partitions(wh)
    assert snapshot(raw_rows(wh)) == before
    with wh.cursor() as cur:
        cur.execute("SELECT status, error FROM ops.job_runs WHERE job_type = 'cleanup_old_data'")
        status, error = cur.fetchone()
    wh.commit()
    assert status == "failed" and "not rolled up" in error


def test_drop_function_checks_for_itself(wh, workspaces):
    """Even called directly, the owner's function drops nothing while an hour is stale."""
    load_old_days(wh, workspaces)
    with wh.cursor() as cur, pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState,
                                           match="not rolled up"):
        cur.execute("SELECT ops.drop_expired_agent_runs('2026-03-22')")
    wh.rollback()
    assert "agent_runs_p20260320" in partitions(wh)


def test_retention_params_are_validated():
    assert retention.Retention.from_params({"raw_days": 30}).raw_days == 30
    assert retention.Retention.from_params({}).raw_days == 90
    with pytest.raises(ValueError, match="hourly_days"):
        retention.Retention.from_params({"raw_days": 100, "hourly_days": 50})


def test_retention_comes_from_params_then_variable_then_settings(wh, dagbag, workspaces, monkeypatch):
    load_old_days(wh, workspaces)
    monkeypatch.setenv("AIRFLOW_VAR_AGENT_WAREHOUSE_RETENTION", '{"raw_days": 91}')  # keeps 21 March on
    assert run_dag(dagbag, "cleanup_old_data", RUN_AT, monkeypatch).state == "success"
    assert {"agent_runs_p20260320"} & partitions(wh) == set()
    assert "agent_runs_p20260321" in partitions(wh)
    # A run's params win over the Variable: 88 days keeps 24 March on.
    assert run_dag(dagbag, "cleanup_old_data", RUN_AT + timedelta(minutes=1), monkeypatch,
                   conf={"raw_days": 88}).state == "success"
    assert "agent_runs_p20260321" not in partitions(wh) and "agent_runs_p20260322" not in partitions(wh)
    assert raw_rows(wh) == []  # the loaded days all precede 24 March
    with wh.cursor() as cur:
        cur.execute("SELECT details->'retention'->>'raw_days' FROM ops.job_runs "
                    "WHERE job_type = 'cleanup_old_data' ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == ["91", "88"]
    wh.commit()
