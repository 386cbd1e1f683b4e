"""Checks shared by the integration tests: the rollups against the Python oracle."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from support import HOUR
from support.oracle import metrics

H0 = datetime(2026, 1, 5, 9, tzinfo=UTC)  # rolled up by the run at 10:05
RUN_AT = H0 + HOUR + timedelta(minutes=5)
COLUMNS = ("total_executions", "successful_executions", "failed_executions", "avg_runtime",
           "p95_runtime", "total_credits")


def insert_rows(conn, rows):
    """Raw rows as tuples (workspace_id, user_id, status, started_at, runtime_seconds,
    credits_consumed), committed."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at, runtime_seconds, "
            "credits_consumed) VALUES (%s, %s, %s, %s, %s, %s)", rows)
    conn.commit()


def hourly_rows(conn, hour):
    return period_rows(conn, "execution_metrics_hourly", "hour", hour)


def assert_exact(conn, hour):
    expected = metrics(raw_rows(conn), hour, hour + HOUR)
    got = {r[0]: dict(zip(COLUMNS, r[1:7], strict=True)) for r in hourly_rows(conn, hour)}
    assert set(got) == set(expected), hour
    for ws, exp in expected.items():
        row = got[ws]
        for col in ("total_executions", "successful_executions", "failed_executions", "total_credits"):
            assert row[col] == exp[col], (ws, col)
        for col in ("avg_runtime", "p95_runtime"):
            if exp[col] is None:
                assert row[col] is None
            else:
                assert math.isclose(row[col], exp[col], rel_tol=1e-9), (ws, col, row[col], exp[col])
    users = dict(fetch(conn, "SELECT workspace_id::text, active_users FROM analytics.workspace_activity_hourly "
                             "WHERE hour = %s", (hour,)))
    assert users == {ws: exp["active_users"] for ws, exp in expected.items()}


COUNTS = ("total_executions", "successful_executions", "failed_executions", "total_credits")
P95_ERRORS: list[float] = []  # every relative p95 error seen, for the summary at the end


def raw_rows(conn):
    # uuids as text: the oracle and the rollup checks key workspaces by their text.
    return fetch(conn, "SELECT workspace_id::text, user_id::text, status, started_at, runtime_seconds, "
                       "credits_consumed FROM public.agent_runs")


def fetch(conn, query, params=()):
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    conn.commit()
    return rows


def period_rows(conn, table, key, value):
    return fetch(conn, f"SELECT workspace_id::text, total_executions, successful_executions, failed_executions, "
                       f"avg_runtime, p95_runtime, total_credits, updated_at FROM analytics.{table} "
                       f"WHERE {key} = %s ORDER BY 1", (value,))


def assert_matches(conn, expected, table, key, value, activity_table):
    got = {r[0]: dict(zip(("total_executions", "successful_executions", "failed_executions",
                           "avg_runtime", "p95_runtime", "total_credits"), r[1:7], strict=True))
           for r in period_rows(conn, table, key, value)}
    assert set(got) == set(expected), (table, value)
    for ws, exp in expected.items():
        row = got[ws]
        for col in COUNTS:
            assert row[col] == exp[col], (ws, col)
        if exp["avg_runtime"] is None:
            assert row["avg_runtime"] is None and row["p95_runtime"] is None
            continue
        assert math.isclose(row["avg_runtime"], exp["avg_runtime"], rel_tol=1e-9), ws
        if exp["p95_runtime"] == 0:
            assert row["p95_runtime"] == 0
            continue
        err = abs(row["p95_runtime"] - exp["p95_runtime"]) / exp["p95_runtime"]
        P95_ERRORS.append(err)
        assert err <= 0.01, (ws, row["p95_runtime"], exp["p95_runtime"])
    activity = {r[0]: r[1:] for r in fetch(
        conn, f"SELECT workspace_id::text, active_users, runs, total_credits FROM analytics.{activity_table} "
              f"WHERE {key} = %s", (value,))}
    assert activity == {ws: (e["active_users"], e["total_executions"], e["total_credits"])
                        for ws, e in expected.items()}
