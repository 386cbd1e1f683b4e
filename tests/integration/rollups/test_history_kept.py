"""Daily and weekly history is kept for ever (issue 10, item 1).

The issue's scenario: raw retention 3 days, hourly retention 5 days, a week rolled up
exactly by 7 daily runs and the weekly run, then cleanup_old_data 20 days later, the next
daily and weekly runs, reruns of one of the week's days, one of its hours (with a late row
for it in the default partition) and the week itself, and the next runs again: every daily
and weekly row stays identical, to the last column.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from airflow.providers.postgres.hooks.postgres import PostgresHook

from agent_warehouse.rollups import hourly, periods
from support import HOUR
from support.checks import assert_matches, fetch, raw_rows
from support.oracle import daily_metrics, weekly_metrics
from support.runs import run_dag
from tools.synthetic import Run, insert_runs, make_runs

WEEK = date(2026, 1, 5)  # Monday
DAYS = [WEEK + timedelta(days=i) for i in range(7)]
CLEANUP_AT = datetime(2026, 2, 1, 3, tzinfo=UTC)  # 20 days after the week ended
RETENTION = {"raw_days": 3, "hourly_days": 5}
DAILY_TABLES = ("execution_metrics_daily", "runtime_sketch_daily", "user_activity_daily",
                "workspace_activity_daily")
WEEKLY_TABLES = ("execution_metrics_weekly", "runtime_sketch_weekly", "workspace_activity_weekly")


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.fixture()
def workspaces():
    return [str(uuid.uuid4()) for _ in range(12)]


def history(conn) -> dict[str, list[tuple]]:
    """Every daily and weekly row, every column (updated_at included)."""
    return {t: fetch(conn, f"SELECT * FROM analytics.{t} ORDER BY 1, 2, 3") for t in DAILY_TABLES + WEEKLY_TABLES}


def load_week(conn, workspaces) -> None:
    rng = random.Random(20)
    with conn.cursor() as cur:
        cur.execute("SELECT ops.ensure_agent_runs_partitions(%s, %s)", (DAYS[0], DAYS[-1] + timedelta(days=1)))
    conn.commit()
    for d in DAYS:
        insert_runs(conn, make_runs(rng, midnight(d), 400, workspaces, span=timedelta(days=1)))
        # every workspace has runs every day: 84 daily rows, 12 weekly rows
        insert_runs(conn, [Run(w, None, "completed", midnight(d) + 13 * HOUR, 2.5, None) for w in workspaces])


def test_cleanup_and_reruns_keep_every_daily_and_weekly_row(wh, dagbag, workspaces, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("AGENT_WAREHOUSE_REPORTS_DIR", str(tmp_path))
    load_week(wh, workspaces)
    for d in DAYS:
        assert run_dag(dagbag, "daily_rollup", midnight(d) + timedelta(days=1, hours=1), monkeypatch).state == "success"
    assert run_dag(dagbag, "weekly_rollup", midnight(WEEK) + timedelta(days=7, hours=2),
                   monkeypatch).state == "success"
    rows = raw_rows(wh)
    for d in DAYS:
        assert_matches(wh, daily_metrics(rows, d), "execution_metrics_daily", "day", d, "workspace_activity_daily")
    assert_matches(wh, weekly_metrics(rows, WEEK), "execution_metrics_weekly", "week_start", WEEK,
                   "workspace_activity_weekly")
    before = history(wh)
    assert len(before["execution_metrics_daily"]) == 84 and len(before["execution_metrics_weekly"]) == 12

    # 20 days later: raw rows and hourly rollups of the week expire. Retention through its
    # Airflow Variable: a run's conf would stay on the shared DAG for later tests.
    from airflow.models import Variable  # the metadata DB itself, outside any task (AIR311 below)

    from agent_warehouse.retention.cleanup import VARIABLE

    Variable.set(VARIABLE, RETENTION, serialize_json=True)  # noqa: AIR311
    try:
        assert run_dag(dagbag, "cleanup_old_data", CLEANUP_AT, monkeypatch).state == "success"
    finally:
        Variable.delete(VARIABLE)  # noqa: AIR311
    ((details,),) = fetch(wh, "SELECT details FROM ops.job_runs WHERE dag_id = 'cleanup_old_data'")
    assert (details["raw_kept_from"], details["hourly_kept_from"]) == ("2026-01-29", "2026-01-27")
    assert fetch(wh, "SELECT count(*) FROM public.agent_runs") == [(0,)]
    assert fetch(wh, "SELECT count(*) FROM analytics.execution_metrics_hourly") == [(0,)]
    assert history(wh) == before

    # The next daily and weekly runs.
    assert run_dag(dagbag, "daily_rollup", CLEANUP_AT + timedelta(days=1) - timedelta(hours=2),
                   monkeypatch).state == "success"
    assert run_dag(dagbag, "weekly_rollup", datetime(2026, 2, 2, 2, tzinfo=UTC), monkeypatch).state == "success"
    assert history(wh) == before

    # Reruns of one of its days, one of its hours (a late row for it has arrived) and the week.
    insert_runs(wh, make_runs(random.Random(5), midnight(DAYS[2]) + 9 * HOUR, 3, workspaces[:1]))
    caplog.set_level(logging.INFO, logger="agent_warehouse")
    assert run_dag(dagbag, "daily_rollup", midnight(DAYS[2]) + timedelta(days=1, hours=1, minutes=7),
                   monkeypatch).state == "success"
    notices = []  # the hourly task's SQL operator logs the guard's notice through its hook
    real_handler = PostgresHook._notice_handler
    monkeypatch.setattr(PostgresHook, "_notice_handler",
                        lambda hook, n: (notices.append(str(n.message_primary)), real_handler(hook, n)))
    assert run_dag(dagbag, "hourly_rollup", midnight(DAYS[2]) + 10 * HOUR + timedelta(minutes=7),
                   monkeypatch).state == "success"
    assert notices == ["hour 2026-01-07T09:00:00Z is past retention (raw rows kept from 2026-01-29): "
                       "its rollups were kept as they are, nothing recomputed"]
    assert run_dag(dagbag, "weekly_rollup", midnight(WEEK) + timedelta(days=7, hours=2, minutes=7),
                   monkeypatch).state == "success"
    assert history(wh) == before
    assert fetch(wh, "SELECT count(*) FROM analytics.execution_metrics_hourly") == [(0,)]

    # ... and the next runs after them: nothing was logged as changed.
    assert run_dag(dagbag, "daily_rollup", CLEANUP_AT + timedelta(days=1, minutes=9) - timedelta(hours=2),
                   monkeypatch).state == "success"
    assert run_dag(dagbag, "weekly_rollup", datetime(2026, 2, 2, 2, 9, tzinfo=UTC), monkeypatch).state == "success"
    assert history(wh) == before
    for d in DAYS:
        assert_matches(wh, daily_metrics(rows, d), "execution_metrics_daily", "day", d, "workspace_activity_daily")
    assert_matches(wh, weekly_metrics(rows, WEEK), "execution_metrics_weekly", "week_start", WEEK,
                   "workspace_activity_weekly")

    # Called directly, each grain says it kept the period.
    caplog.clear()
    assert periods.rollup_day(wh, DAYS[2])["kept"] is True
    assert periods.rollup_week(wh, WEEK)["kept"] is True
    assert hourly.rollup_hour(wh, midnight(DAYS[2]) + 9 * HOUR)["kept"] is True
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert "day 2026-01-07 is past retention" in said and "week 2026-01-05 is past retention" in said
    assert "hour 2026-01-07T09:00:00Z is past retention" in said
    assert history(wh) == before


def test_a_period_inside_retention_is_still_recomputed(wh, workspaces):
    """The guard keeps only expired periods: with nothing dropped, a day and its week
    still follow late data."""
    load_week(wh, workspaces)
    periods.weekly(wh, WEEK)
    insert_runs(wh, make_runs(random.Random(8), midnight(DAYS[3]) + 5 * HOUR, 30, [str(uuid.uuid4())]))
    out = periods.weekly(wh, WEEK)
    assert DAYS[3].isoformat() in [d["day"] for d in out["days"]]
    assert all(not d.get("kept") for d in out["days"]) and all(not w.get("kept") for w in out["weeks"])
    rows = raw_rows(wh)
    assert_matches(wh, daily_metrics(rows, DAYS[3]), "execution_metrics_daily", "day", DAYS[3],
                   "workspace_activity_daily")
    assert_matches(wh, weekly_metrics(rows, WEEK), "execution_metrics_weekly", "week_start", WEEK,
                   "workspace_activity_weekly")
