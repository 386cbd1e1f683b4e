"""Reconciliation through real DAG runs: a wrong rollup row, whether written by hand or by the
rollup itself, is found by the run that wrote its period (or, for an hourly row, by the daily
run of its day), recorded in ops.reconciliation_incidents, re-rolled, and exact again against
the Python oracle, the run green; a wrong row that re-rolling cannot fix fails the run with a
message that says what to look at."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import pytest

from agent_warehouse.checks.freshness import render_page
from support import HOUR
from support.checks import assert_exact, assert_matches, fetch, raw_rows
from support.oracle import daily_metrics, weekly_metrics
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

DAY = date(2026, 1, 5)  # a Monday
MIDNIGHT = datetime(2026, 1, 5, tzinfo=UTC)
H9 = MIDNIGHT + 9 * HOUR
HOURLY_RUN_AT = H9 + HOUR + timedelta(minutes=5)  # rolls up 09:00 to 10:00
DAILY_RUN_AT = MIDNIGHT + timedelta(days=1, hours=1)
WEEKLY_RUN_AT = MIDNIGHT + timedelta(days=7, hours=2)


@pytest.fixture()
def day_of_runs(wh):
    rng = random.Random(2121)
    workspaces = [str(uuid.uuid4()) for _ in range(5)]
    insert_runs(wh, [r for h in (3, 9, 14, 20) for r in make_runs(rng, MIDNIGHT + h * HOUR, 120, workspaces)])
    return workspaces


def unseen(cur) -> None:
    """Make this transaction's writes invisible to the triggers, as a bug in a rollup's own
    statement would be: a write outside a rollup is otherwise logged by migration 0023's
    triggers and the period simply re-rolled (test_a_direct_write_is_re_rolled_by_the_log)."""
    cur.execute("SET LOCAL session_replication_role = replica")


def incidents(conn):
    return fetch(conn, "SELECT grain, period, table_name, outcome, dag_id, mismatches, what_differed "
                       "FROM ops.reconciliation_incidents ORDER BY id")


def corrupt_writes(conn, table: str, times: int | None, when: str = "true") -> None:
    """A bug in the write path: the next ``times`` rows written to ``table`` (every row when
    None) for which ``when`` holds get one credit too many. A trigger, so the rollup's own
    write is what is wrong (BEFORE INSERT fires for every row an upsert proposes)."""
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS public.test_corruptions (n integer)")
        cur.execute("DELETE FROM public.test_corruptions")
        cur.execute("INSERT INTO public.test_corruptions VALUES (%s)", (times,))
        cur.execute("""
            CREATE OR REPLACE FUNCTION public.test_corrupt() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE public.test_corruptions SET n = n - 1 WHERE n > 0;
                IF FOUND OR EXISTS (SELECT 1 FROM public.test_corruptions WHERE n IS NULL) THEN
                    NEW.total_credits := NEW.total_credits + 1;
                END IF;
                RETURN NEW;
            END $$""")
        cur.execute(f"DROP TRIGGER IF EXISTS test_corrupt ON {table}")
        cur.execute(f"CREATE TRIGGER test_corrupt BEFORE INSERT OR UPDATE ON {table} "
                    f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION public.test_corrupt()")
    conn.commit()


@pytest.fixture()
def cleanup_triggers(wh):
    yield
    with wh.cursor() as cur:
        for table in ("analytics.execution_metrics_hourly", "analytics.execution_metrics_weekly"):
            cur.execute(f"DROP TRIGGER IF EXISTS test_corrupt ON {table}")
    wh.commit()


def test_daily_run_finds_a_corrupted_hourly_row_and_rerolls_its_hour(wh, dagbag, day_of_runs, monkeypatch,
                                                                    tmp_path):
    monkeypatch.setenv("AGENT_WAREHOUSE_REPORTS_DIR", str(tmp_path))
    assert run_dag(dagbag, "daily_rollup", DAILY_RUN_AT, monkeypatch).state == "success"
    assert incidents(wh) == []  # a clean day: nothing found
    with wh.cursor() as cur:  # as a bug would: one hourly row wrong in two columns
        unseen(cur)
        cur.execute("UPDATE analytics.execution_metrics_hourly SET total_credits = total_credits + 5, "
                    "failed_executions = failed_executions + 1 WHERE hour = %s AND workspace_id = %s",
                    (H9, day_of_runs[0]))
    wh.commit()

    finder = run_dag(dagbag, "daily_rollup", DAILY_RUN_AT + timedelta(minutes=1), monkeypatch)
    assert finder.state == "success"
    found = incidents(wh)
    assert [(g, p, t, o, d, n) for g, p, t, o, d, n, _ in found] == [
        ("hour", H9, "analytics.execution_metrics_hourly", "repaired", "daily_rollup", 2)]
    assert fetch(wh, "SELECT run_id FROM ops.reconciliation_incidents") == [(finder.run_id,)]
    assert "failed_executions" in found[0][6] and "total_credits" in found[0][6]
    for h in (3, 9, 14, 20):
        assert_exact(wh, MIDNIGHT + h * HOUR)
    assert_matches(wh, daily_metrics(raw_rows(wh), DAY), "execution_metrics_daily", "day", DAY,
                   "workspace_activity_daily")
    details = fetch(wh, "SELECT details FROM ops.job_runs WHERE dag_id = 'daily_rollup' ORDER BY id DESC LIMIT 1")[0][0]
    assert details["incidents"] and details["days_checked"] == 1
    # The day's report and the Freshness page list it on top, linking to the run that found
    # it (the Airflow 3 UI's /dags/<dag_id>/runs/<run_id>, relative to /reports/<page>).
    link = f'href="../dags/daily_rollup/runs/{quote(finder.run_id, safe="")}"'
    page = (tmp_path / "daily-2026-01-05.html").read_text()
    section = page[page.index('<section id="incidents"'):page.index("</section>")]
    assert "reconciliation (repaired)" in section and "2026-01-05T09:00Z" in section
    assert "hour of analytics.execution_metrics_hourly" in section
    assert section.count('class="found-by"') == 1 and link in section
    fresh = render_page(wh)
    assert fresh.index('<section id="incidents"') < fresh.index('id="freshness"')
    top = fresh[fresh.index('<section id="incidents"'):fresh.index("</section>")]
    assert "reconciliation (repaired)" in top and link in top
    assert link in fresh[fresh.index('id="incidents-week"'):]  # and in the week's table
    # The base URL is a setting, for pages read away from the api-server.
    monkeypatch.setenv("AGENT_WAREHOUSE_AIRFLOW_UI_URL", "https://airflow.example.com/")
    assert f'href="https://airflow.example.com/dags/daily_rollup/runs/{quote(finder.run_id, safe="")}"' in render_page(wh)


def test_hourly_run_finds_its_own_wrong_write_and_rerolls_it(wh, dagbag, day_of_runs, monkeypatch,
                                                             cleanup_triggers):
    corrupt_writes(wh, "analytics.execution_metrics_hourly", times=1)  # the rollup's write goes wrong once
    finder = run_dag(dagbag, "hourly_rollup", HOURLY_RUN_AT, monkeypatch)
    assert finder.state == "success"
    found = incidents(wh)
    assert [(g, p, t, o, d, n) for g, p, t, o, d, n, _ in found] == [
        ("hour", H9, "analytics.execution_metrics_hourly", "repaired", "hourly_rollup", 1)]
    assert fetch(wh, "SELECT run_id FROM ops.reconciliation_incidents") == [(finder.run_id,)]
    assert "total_credits" in found[0][6]
    assert_exact(wh, H9)


def test_hourly_run_checks_the_earlier_hours_it_repaired(wh, dagbag, day_of_runs, monkeypatch, cleanup_triggers):
    assert run_dag(dagbag, "hourly_rollup", HOURLY_RUN_AT, monkeypatch).state == "success"  # 03:00 and 09:00
    insert_runs(wh, make_runs(random.Random(3), MIDNIGHT + 3 * HOUR, 9, day_of_runs))  # late rows for 03:00
    # The repair of 03:00 writes it, and its first row goes wrong.
    corrupt_writes(wh, "analytics.execution_metrics_hourly", times=1, when="NEW.hour = '2026-01-05 03:00+00'")
    assert run_dag(dagbag, "hourly_rollup", HOURLY_RUN_AT + timedelta(minutes=1), monkeypatch).state == "success"
    assert [(g, p, o) for g, p, _, o, *_ in incidents(wh)] == [("hour", MIDNIGHT + 3 * HOUR, "repaired")]
    assert_exact(wh, MIDNIGHT + 3 * HOUR)
    assert_exact(wh, H9)


def test_weekly_run_finds_its_wrong_write(wh, dagbag, day_of_runs, monkeypatch, cleanup_triggers):
    corrupt_writes(wh, "analytics.execution_metrics_weekly", times=1)
    assert run_dag(dagbag, "weekly_rollup", WEEKLY_RUN_AT, monkeypatch).state == "success"
    assert [(g, p, t, o) for g, p, t, o, *_ in incidents(wh)] == [
        ("week", MIDNIGHT, "analytics.execution_metrics_weekly", "repaired")]
    assert_matches(wh, weekly_metrics(raw_rows(wh), DAY), "execution_metrics_weekly", "week_start", DAY,
                   "workspace_activity_weekly")


def test_a_corruption_rerolling_cannot_fix_fails_the_run_naming_the_period(wh, dagbag, day_of_runs, monkeypatch,
                                                                          cleanup_triggers):
    corrupt_writes(wh, "analytics.execution_metrics_hourly", times=None,  # every write of 09:00, re-rolls too
                   when="NEW.hour = '2026-01-05 09:00+00'")
    assert run_dag(dagbag, "hourly_rollup", HOURLY_RUN_AT, monkeypatch).state == "failed"
    found = incidents(wh)
    assert [(g, p, o) for g, p, _, o, *_ in found] == [("hour", H9, "still_wrong")]  # one try: no retries
    error = fetch(wh, "SELECT status, error FROM ops.job_runs WHERE dag_id = 'hourly_rollup'")
    assert error[0][0] == "failed"
    message = error[0][1]
    assert "reconcile" in message and "hour 2026-01-05T09:00:00+00:00 of analytics.execution_metrics_hourly" in message
    assert "still differs from its source after a re-roll" in message and "total_credits" in message
    assert "look for triggers" in message


def test_without_the_days_raw_pass_the_day_is_checked_against_its_hours_only(wh, day_of_runs):
    from agent_warehouse.checks.reconcile import check_day
    from agent_warehouse.rollups import periods

    periods.daily(wh, DAY)
    with wh.cursor() as cur:
        unseen(cur)
        cur.execute("UPDATE analytics.execution_metrics_hourly SET total_credits = total_credits + 5 "
                    "WHERE hour = %s AND workspace_id = %s", (H9, day_of_runs[0]))
    wh.commit()
    periods.daily(wh, DAY)  # the day now sums the wrong hour: only the raw rows disagree
    assert [(d.grain, d.period, d.column_name) for d in check_day(wh, DAY)] == [("hour", H9, "total_credits")]
    assert check_day(wh, DAY, raw=False) == []
    with wh.cursor() as cur:
        unseen(cur)
        cur.execute("UPDATE analytics.execution_metrics_daily SET total_executions = total_executions + 1 "
                    "WHERE day = %s AND workspace_id = %s", (DAY, day_of_runs[1]))
    wh.commit()
    assert [(d.grain, d.table_name, d.column_name) for d in check_day(wh, DAY, raw=False)] == [
        ("day", "analytics.execution_metrics_daily", "total_executions")]


def test_a_direct_write_is_re_rolled_by_the_log(wh, dagbag, day_of_runs, monkeypatch, tmp_path):
    """A write to a rollup table outside a rollup (a person, a script) is logged by the
    invalidation triggers: the next run re-rolls the hour from its source, before any check."""
    monkeypatch.setenv("AGENT_WAREHOUSE_REPORTS_DIR", str(tmp_path))
    assert run_dag(dagbag, "daily_rollup", DAILY_RUN_AT, monkeypatch).state == "success"
    with wh.cursor() as cur:
        cur.execute("UPDATE analytics.execution_metrics_hourly SET total_credits = total_credits + 5 "
                    "WHERE hour = %s AND workspace_id = %s", (H9, day_of_runs[0]))
    wh.commit()
    assert run_dag(dagbag, "daily_rollup", DAILY_RUN_AT + timedelta(minutes=1), monkeypatch).state == "success"
    assert_exact(wh, H9)
    assert incidents(wh) == []
