"""ops.rollup_freshness through real hourly runs: rolling up stops for a few hours, late rows
land in an old hour; the view shows the lag and the pending hour, and the next run leaves
every hourly table fresh again. Also the one line a deadline miss names and the page."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from agent_warehouse.checks.freshness import freshness, freshness_summary, render_page
from support import HOUR
from support.checks import assert_exact, fetch
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

HOURLY_TABLES = {"analytics.execution_metrics_hourly", "analytics.runtime_sketch_hourly",
                 "analytics.user_activity_hourly", "analytics.workspace_activity_hourly",
                 "ops.rejected_runs_hourly"}


def by_table(conn):
    return {r["table_name"]: r for r in freshness(conn)}


def test_stopped_rollups_and_late_rows_show_then_the_next_run_is_fresh(wh, dagbag, monkeypatch):
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    old = now_hour - 6 * HOUR
    rng = random.Random(21)
    workspaces = [str(uuid.uuid4()) for _ in range(4)]
    insert_runs(wh, [r for h in range(6) for r in make_runs(rng, old + h * HOUR, 40, workspaces)])

    # Hourly runs for the three oldest hours, then rolling up stops.
    for h in range(3):
        run_dag(dagbag, "hourly_rollup", old + (h + 1) * HOUR + timedelta(minutes=5), monkeypatch)
    rows = by_table(wh)
    assert set(rows) >= HOURLY_TABLES | {"analytics.execution_metrics_daily", "analytics.execution_metrics_weekly"}
    newest = old + 2 * HOUR
    for t in HOURLY_TABLES:
        assert rows[t]["grain"] == "hour"
        assert rows[t]["newest_period"] == newest
        # the hours whose rows arrived but were not rolled up wait in the invalidation log
        assert rows[t]["pending_periods"] == 3
        assert rows[t]["oldest_pending"] == old + 3 * HOUR
        # now minus the end of the newest hour rolled up: at least the three hours not rolled up
        assert rows[t]["lag"] >= 3 * HOUR, rows[t]["lag"]

    # Late rows for the oldest hour: pending in the invalidation log.
    insert_runs(wh, make_runs(rng, old, 7, workspaces))
    rows = by_table(wh)
    for t in HOURLY_TABLES:
        assert rows[t]["pending_periods"] == 4
        assert rows[t]["oldest_pending"] == old
    line = freshness_summary(wh)
    assert line.startswith("freshness left behind: hour: newest ")
    assert f"4 pending from {old:%Y-%m-%dT%H:%M}Z" in line, line
    page = render_page(wh)
    assert 'class="pending">4</td>' in page and "behind" in page

    # The next run (the last closed hour) rolls up its hour and repairs the old one.
    run_dag(dagbag, "hourly_rollup", now_hour + timedelta(minutes=5), monkeypatch)
    rows = by_table(wh)
    for t in HOURLY_TABLES:
        assert rows[t]["pending_periods"] == 0 and rows[t]["oldest_pending"] is None
        assert rows[t]["newest_period"] == now_hour - HOUR
        assert timedelta(0) <= rows[t]["lag"] < HOUR
    assert_exact(wh, old)
    assert "none pending" in freshness_summary(wh).split(";")[0]
    assert fetch(wh, "SELECT count(*) FROM ops.agent_runs_invalidations")[0][0] == 0


def test_a_pending_hour_makes_its_rolled_up_day_and_week_pending(wh):
    from agent_warehouse.rollups import periods

    rng = random.Random(5)
    day = datetime(2026, 1, 6, tzinfo=UTC)
    insert_runs(wh, make_runs(rng, day + 10 * HOUR, 30, [str(uuid.uuid4())]))
    periods.weekly(wh, day.date() - timedelta(days=1))  # the week of Monday 5 January, its days and hours
    rows = by_table(wh)
    assert rows["analytics.execution_metrics_daily"]["newest_period"] == datetime(2026, 1, 11, tzinfo=UTC)
    assert rows["analytics.execution_metrics_weekly"]["newest_period"] == datetime(2026, 1, 5, tzinfo=UTC)
    assert all(r["pending_periods"] == 0 for r in rows.values())
    insert_runs(wh, make_runs(rng, day + 10 * HOUR, 3, [str(uuid.uuid4())]))
    rows = by_table(wh)
    assert rows["analytics.execution_metrics_hourly"]["oldest_pending"] == day + 10 * HOUR
    assert rows["analytics.execution_metrics_daily"]["pending_periods"] == 1
    assert rows["analytics.execution_metrics_daily"]["oldest_pending"] == day
    assert rows["analytics.execution_metrics_weekly"]["oldest_pending"] == datetime(2026, 1, 5, tzinfo=UTC)


def test_the_freshness_page_is_served_behind_the_login(wh, airflow_db):
    from fastapi.testclient import TestClient

    from agent_warehouse.web.reports_app import app

    client = TestClient(app)
    assert client.get("/freshness").status_code == 401  # no Airflow login
    login = app.router.dependencies[0].dependency
    app.dependency_overrides[login] = lambda: None  # a logged-in user
    try:
        page = client.get("/freshness")
    finally:
        app.dependency_overrides.clear()
    assert page.status_code == 200
    assert '<tr data-table="analytics.execution_metrics_hourly">' in page.text
    assert "never" in page.text and 'id="no-incidents"' in page.text
