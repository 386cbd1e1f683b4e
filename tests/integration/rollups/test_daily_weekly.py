"""daily_rollup and weekly_rollup through real Airflow runs, checked against tests/oracle.py
on skewed, heavy-tailed data: counts, sums and means exact, p95 within 1% of PERCENTILE_CONT."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from agent_warehouse.rollups import hourly, periods
from support import HOUR
from support.checks import P95_ERRORS, assert_matches, fetch, period_rows, raw_rows
from support.oracle import daily_metrics, weekly_metrics
from support.runs import run_dag
from tools.synthetic import Run, insert_runs, make_runs

DAY = date(2026, 1, 5)  # a Monday: the week of 5 January
DAILY_RUN_AT = datetime(2026, 1, 6, 1, tzinfo=UTC)  # rolls up 5 January
WEEKLY_RUN_AT = datetime(2026, 1, 12, 2, tzinfo=UTC)  # rolls up the week from 5 January


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def skewed_day(rng: random.Random, day: date, workspaces: list[str], scale: int = 1) -> list[Run]:
    """Many tiny hours, a few huge ones, a workspace of identical runtimes, single runs and
    a very heavy tail."""
    start, runs = midnight(day), []
    for h in range(24):
        hs = start + h * HOUR
        if h in (9, 15):
            runs += make_runs(rng, hs, 900 * scale, workspaces)
        elif h % 3 == 0:
            runs += make_runs(rng, hs, rng.randint(1, 3), workspaces)
        elif h % 3 == 1:
            runs += make_runs(rng, hs, 15 * scale, workspaces)
    same, single, tail = workspaces[-3:]
    runs += [Run(same, None, "completed", start + timedelta(minutes=37 * i), 7.25, Decimal("0.07"))
             for i in range(30)]
    runs.append(Run(single, str(uuid.uuid4()), "completed", start + timedelta(hours=20, minutes=1), 3.5,
                    Decimal("1.5")))
    runs += [Run(tail, rng.choice([None, str(uuid.uuid4())]), rng.choice(["completed", "failed"]),
                 start + timedelta(seconds=rng.randrange(86400)),
                 0.001 * rng.paretovariate(0.6) if i % 11 else 0.0, Decimal(rng.randrange(100000)).scaleb(-3))
             for i in range(400)]
    return runs


@pytest.fixture()
def workspaces():
    return [str(uuid.uuid4()) for _ in range(10)]


def test_daily_run_is_exact_without_any_hourly_run_and_reruns_identically(wh, dagbag, workspaces, monkeypatch,
                                                                         tmp_path):
    monkeypatch.setenv("AGENT_WAREHOUSE_REPORTS_DIR", str(tmp_path))
    insert_runs(wh, skewed_day(random.Random(1), DAY, workspaces))
    insert_runs(wh, make_runs(random.Random(2), midnight(DAY) + timedelta(days=1), 50, workspaces))  # not its day
    # As if the rows had been bulk-loaded where no trigger logs them (e.g. moved out of the
    # default partition): only ops.hours_rolled_up tells the run that no hour was rolled up.
    with wh.cursor() as cur:
        cur.execute("TRUNCATE ops.agent_runs_invalidations")
    wh.commit()
    dr = run_dag(dagbag, "daily_rollup", DAILY_RUN_AT, monkeypatch)
    assert dr.state == "success"
    assert_matches(wh, daily_metrics(raw_rows(wh), DAY), "execution_metrics_daily", "day", DAY,
                   "workspace_activity_daily")
    assert fetch(wh, "SELECT count(*) FROM ops.hours_rolled_up WHERE hour >= %s AND hour < %s",
                 (midnight(DAY), midnight(DAY) + timedelta(days=1))) == [(24,)]
    ((status, rows, p_start, details, took),) = fetch(
        wh, "SELECT status, rows_written, period_start, details, extract(epoch FROM finished_at - started_at) "
            "FROM ops.job_runs WHERE dag_id = 'daily_rollup'")
    print(f"\ndaily run over {len(raw_rows(wh))} raw rows, no hour rolled up before: {float(took):.2f} s "
          "from start_audit to finish_audit")
    assert status == "success" and rows > 0 and p_start == midnight(DAY)
    assert details["days"] == [DAY.isoformat()]
    assert details["hours_repaired"] == [] and len(details["hours_rolled_up"]) == 24

    tables = ("execution_metrics_daily", "runtime_sketch_daily", "user_activity_daily",
              "workspace_activity_daily", "workspace_health_daily", "daily_reports")
    before = {t: fetch(wh, f"SELECT * FROM analytics.{t} ORDER BY 1, 2, 3") for t in tables}
    assert run_dag(dagbag, "daily_rollup", DAILY_RUN_AT + timedelta(minutes=3), monkeypatch).state == "success"
    assert {t: fetch(wh, f"SELECT * FROM analytics.{t} ORDER BY 1, 2, 3") for t in tables} == before


def test_late_insert_update_and_delete_in_an_earlier_day_are_repaired_by_the_next_daily_run(
        wh, dagbag, workspaces, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENT_WAREHOUSE_REPORTS_DIR", str(tmp_path))
    rng = random.Random(3)
    earlier, day = DAY, DAY + timedelta(days=1)
    for d in (earlier, day):
        insert_runs(wh, make_runs(rng, midnight(d), 600, workspaces, span=timedelta(days=1)))
    periods.daily(wh, earlier)
    for h in range(24):  # the hourly DAG ran for the later day
        hourly.rollup_hour(wh, midnight(day) + h * HOUR)

    doomed = str(uuid.uuid4())
    insert_runs(wh, make_runs(rng, midnight(earlier) + 3 * HOUR, 4, [doomed]))
    periods.daily(wh, earlier)
    assert doomed in {r[0] for r in period_rows(wh, "execution_metrics_daily", "day", earlier)}
    with wh.cursor() as cur:
        cur.execute("UPDATE public.agent_runs SET status = 'completed', runtime_seconds = 4242.5, "
                    "credits_consumed = 9.5 WHERE status = 'running' AND started_at < %s", (midnight(day),))
        assert cur.rowcount > 0
        cur.execute("DELETE FROM public.agent_runs WHERE workspace_id = %s", (doomed,))
        cur.execute("DELETE FROM public.agent_runs WHERE ctid IN (SELECT ctid FROM public.agent_runs "
                    "WHERE started_at >= %s AND started_at < %s LIMIT 25)",
                    (midnight(earlier) + 5 * HOUR, midnight(earlier) + 8 * HOUR))
    wh.commit()
    insert_runs(wh, make_runs(rng, midnight(earlier) + 22 * HOUR, 40, workspaces))  # late arrivals

    dr = run_dag(dagbag, "daily_rollup", midnight(day) + timedelta(days=1, hours=1), monkeypatch)
    assert dr.state == "success"
    rows = raw_rows(wh)
    for d in (earlier, day):
        assert_matches(wh, daily_metrics(rows, d), "execution_metrics_daily", "day", d, "workspace_activity_daily")
    assert doomed not in {r[0] for r in period_rows(wh, "execution_metrics_daily", "day", earlier)}
    ((details,),) = fetch(wh, "SELECT details FROM ops.job_runs WHERE period_start = %s", (midnight(day),))
    assert details["days"] == [earlier.isoformat(), day.isoformat()]
    assert details["hours_rolled_up"] == []  # the hourly runs had done the later day
    assert fetch(wh, "SELECT count(*) FROM ops.rollup_invalidations WHERE grain = 'day'") == [(0,)]


def test_weekly_run_merges_days_and_repairs_late_data(wh, dagbag, workspaces, monkeypatch):
    rng = random.Random(4)
    week = [DAY + timedelta(days=i) for i in range(7)]
    for d in week:
        insert_runs(wh, skewed_day(rng, d, workspaces, scale=1) if d.day % 2 else
                    make_runs(rng, midnight(d), 300, workspaces, span=timedelta(days=1)))
    insert_runs(wh, make_runs(rng, midnight(week[-1]) + timedelta(days=1), 30, workspaces))  # next week
    periods.daily(wh, week[1])  # only some days had their daily run; the rest the weekly does
    dr = run_dag(dagbag, "weekly_rollup", WEEKLY_RUN_AT, monkeypatch)
    assert dr.state == "success"
    rows = raw_rows(wh)
    assert_matches(wh, weekly_metrics(rows, DAY), "execution_metrics_weekly", "week_start", DAY,
                   "workspace_activity_weekly")
    for d in week:
        assert_matches(wh, daily_metrics(rows, d), "execution_metrics_daily", "day", d, "workspace_activity_daily")
    first = period_rows(wh, "execution_metrics_weekly", "week_start", DAY)
    assert run_dag(dagbag, "weekly_rollup", WEEKLY_RUN_AT + timedelta(minutes=1), monkeypatch).state == "success"
    assert period_rows(wh, "execution_metrics_weekly", "week_start", DAY) == first

    # A late change to Wednesday shows in the week after the next weekly run.
    with wh.cursor() as cur:
        cur.execute("DELETE FROM public.agent_runs WHERE ctid IN (SELECT ctid FROM public.agent_runs "
                    "WHERE started_at >= %s AND started_at < %s LIMIT 30)",
                    (midnight(week[2]), midnight(week[3])))
    wh.commit()
    insert_runs(wh, make_runs(rng, midnight(week[2]) + 4 * HOUR, 25, [str(uuid.uuid4())]))
    assert run_dag(dagbag, "weekly_rollup", WEEKLY_RUN_AT + timedelta(days=7), monkeypatch).state == "success"
    rows = raw_rows(wh)
    assert_matches(wh, weekly_metrics(rows, DAY), "execution_metrics_weekly", "week_start", DAY,
                   "workspace_activity_weekly")
    assert_matches(wh, daily_metrics(rows, week[2]), "execution_metrics_daily", "day", week[2],
                   "workspace_activity_daily")
    ((details,),) = fetch(wh, "SELECT details FROM ops.job_runs WHERE dag_id = 'weekly_rollup' AND period_start = %s",
                          (midnight(DAY) + timedelta(days=7),))
    assert details["weeks"] == [DAY.isoformat(), (DAY + timedelta(days=7)).isoformat()]


def test_p95_error_summary():
    """Runs last in this module: the worst p95 error seen above (printed with -s)."""
    if P95_ERRORS:
        print(f"\np95 relative error over {len(P95_ERRORS)} daily/weekly rows: "
              f"worst {max(P95_ERRORS):.4%}, mean {sum(P95_ERRORS) / len(P95_ERRORS):.4%}")
        assert max(P95_ERRORS) <= 0.009 + 1e-12


def test_daily_and_weekly_periods_deadlines_and_manual_runs(dagbag):
    import pendulum

    from agent_warehouse import settings

    daily, weekly = dagbag.get_dag("daily_rollup"), dagbag.get_dag("weekly_rollup")
    utc = pendulum.UTC
    manual = daily.timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 1, 6, 1, tz=utc))
    assert (manual.start, manual.end) == (pendulum.datetime(2026, 1, 5, tz=utc), pendulum.datetime(2026, 1, 6, tz=utc))
    manual = weekly.timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 1, 12, 2, tz=utc))
    assert (manual.start, manual.end) == (pendulum.datetime(2026, 1, 5, tz=utc), pendulum.datetime(2026, 1, 12, tz=utc))
    assert settings.DAILY_DEADLINE == timedelta(minutes=15)
    for dag, target in ((daily, settings.DAILY_DEADLINE), (weekly, settings.WEEKLY_DEADLINE)):
        alerts = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
        assert [a.interval for a in alerts] == [target]
