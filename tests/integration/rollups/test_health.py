"""Daily health scores (docs/health.md) pinned on hand-made daily rows."""

from __future__ import annotations

import math
import uuid
from datetime import date, timedelta

import pytest

from agent_warehouse.rollups import health

DAY = date(2026, 1, 12)


def put_day(conn, ws, day, ok, failed, p95, credits, users):
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO analytics.execution_metrics_daily (workspace_id, day, total_executions, "
            "successful_executions, failed_executions, avg_runtime, p95_runtime, total_credits) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", (ws, day, ok + failed, ok, failed, p95 / 2, p95, credits))
        cur.execute(
            "INSERT INTO analytics.workspace_activity_daily (workspace_id, day, active_users, runs, runs_per_user, "
            "total_credits, credits_per_user) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (ws, day, users, ok + failed, (ok + failed) / users, credits, credits / users))
    conn.commit()


def score_row(conn, ws):
    with conn.cursor() as cur:
        cur.execute("SELECT score, band, success_points, latency_points, credit_points, activity_points, "
                    "baseline_days, p95_ratio FROM analytics.workspace_health_daily WHERE workspace_id = %s "
                    "AND day = %s", (ws, DAY))
        row = cur.fetchone()
    conn.commit()
    return row


@pytest.fixture()
def scored(wh):
    healthy, degrading, new, young = (str(uuid.uuid4()) for _ in range(4))
    for i in range(1, 8):
        put_day(wh, healthy, DAY - timedelta(days=i), 95, 5, 10.0, 100, 10)
        put_day(wh, degrading, DAY - timedelta(days=i), 95, 5, 10.0, 100, 10)
    for i in (1, 2):  # two days of history: not enough for a baseline
        put_day(wh, young, DAY - timedelta(days=i), 10, 0, 1.0, 1, 1)
    put_day(wh, healthy, DAY, 95, 5, 10.0, 100, 10)
    put_day(wh, degrading, DAY, 60, 40, 15.0, 250, 5)
    put_day(wh, new, DAY, 9, 1, 3.0, 5, 2)
    put_day(wh, young, DAY, 5, 5, 100.0, 50, 1)
    assert health.health_day(wh, DAY) == 4
    return {"healthy": healthy, "degrading": degrading, "new": new, "young": young}


def test_a_healthy_workspace(wh, scored):
    score, band, s, lat, cr, act, days, ratio = score_row(wh, scored["healthy"])
    assert (score, band, days) == (98.0, "healthy", 7)
    assert (s, lat, cr, act) == (38.0, 25.0, 20.0, 15.0) and ratio == 1.0


def test_a_degrading_workspace(wh, scored):
    score, band, s, lat, cr, act, days, ratio = score_row(wh, scored["degrading"])
    # success 60/100 -> 24; p95 1.5x -> 12.5; credits 2.5x -> 20 * 0.5/1.5; users 0.5x -> 7.5
    assert (s, lat, act) == (24.0, 12.5, 7.5) and math.isclose(cr, 20 / 3)
    assert (score, band) == (50.7, "at_risk")


def test_a_new_workspace_without_baseline_is_judged_on_success_only(wh, scored):
    score, band, s, lat, cr, act, days, ratio = score_row(wh, scored["new"])
    assert (score, band, days, ratio) == (96.0, "healthy", 0, None)
    score, band, s, lat, cr, act, days, ratio = score_row(wh, scored["young"])
    assert (score, band, days, ratio) == (80.0, "healthy", 2, None)  # 5/10 success: 20 + 60


def test_rerun_is_identical_and_vanished_workspaces_lose_their_row(wh, scored):
    with wh.cursor() as cur:
        cur.execute("SELECT * FROM analytics.workspace_health_daily ORDER BY 1, 2")
        before = cur.fetchall()
        assert health.health_day(wh, DAY) == 4
        cur.execute("SELECT * FROM analytics.workspace_health_daily ORDER BY 1, 2")
        assert cur.fetchall() == before
        cur.execute("DELETE FROM analytics.execution_metrics_daily WHERE workspace_id = %s AND day = %s",
                    (scored["new"], DAY))
    wh.commit()
    assert health.health_day(wh, DAY) == 3
    assert score_row(wh, scored["new"]) is None
