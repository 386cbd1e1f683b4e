"""A period that fails never blocks the others (issue 17, section 1).

A trigger made for the test makes one period's rollup fail (as any error would: a lock
timeout, a value out of range, a full disk). The repair goes on with every other period,
the task fails at the end naming the period, the audit row's error says which, and the
failed period stays in its invalidation log until a later run succeeds.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from psycopg import sql as pgsql

from agent_warehouse.rollups import hourly, periods
from support import HOUR
from support.checks import assert_exact, assert_matches, fetch, hourly_rows, raw_rows
from support.oracle import daily_metrics
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

H0 = datetime(2026, 1, 13, 9, tzinfo=UTC)  # rolled up by the run at 10:05
RUN_AT = H0 + HOUR + timedelta(minutes=5)
DOOMED = H0 - 2 * HOUR


@pytest.fixture()
def fail_period(wh):
    """fail_period(table, column, value): every write of that period to that table raises."""
    made = []

    def install(table: str, column: str, value: object) -> None:
        with wh.cursor() as cur:
            cur.execute("CREATE SCHEMA IF NOT EXISTS test_failing_period")
            cur.execute("CREATE OR REPLACE FUNCTION test_failing_period.refuse() RETURNS trigger "
                        "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure of this period'; END $$")
            cur.execute(pgsql.SQL("CREATE TRIGGER refuse_period BEFORE INSERT OR UPDATE ON {} FOR EACH ROW "
                                  "WHEN (NEW.{} = {}) EXECUTE FUNCTION test_failing_period.refuse()").format(
                pgsql.SQL(table), pgsql.Identifier(column), pgsql.Literal(value)))
        wh.commit()
        made.append(table)

    yield install
    with wh.cursor() as cur:
        for table in made:
            cur.execute(f"DROP TRIGGER IF EXISTS refuse_period ON {table}")
        cur.execute("DROP SCHEMA IF EXISTS test_failing_period CASCADE")
    wh.commit()


def lift(wh, table: str) -> None:
    with wh.cursor() as cur:
        cur.execute(f"DROP TRIGGER refuse_period ON {table}")
    wh.commit()


def test_repair_goes_past_a_failing_hour_and_names_it(wh, dagbag, monkeypatch, fail_period):
    workspaces = [str(uuid.uuid4()) for _ in range(4)]
    rng = random.Random(17)
    hours = [H0 - 3 * HOUR, DOOMED, H0 - HOUR, H0]
    for h in hours:
        insert_runs(wh, make_runs(rng, h, 60, workspaces))
    fail_period("analytics.execution_metrics_hourly", "hour", DOOMED)

    dr = run_dag(dagbag, "hourly_rollup", RUN_AT, monkeypatch)
    assert dr.state == "failed"
    for h in (H0 - 3 * HOUR, H0 - HOUR, H0):  # before and after the failing hour: all exact
        assert_exact(wh, h)
    assert hourly_rows(wh, DOOMED) == []
    assert fetch(wh, "SELECT count(*) > 0 FROM ops.agent_runs_invalidations WHERE hour = %s", (DOOMED,)) == [(True,)]
    ((status, error),) = fetch(wh, "SELECT status, error FROM ops.job_runs WHERE dag_id = 'hourly_rollup' "
                                   "AND run_id = %s", (dr.run_id,))
    assert status == "failed"
    assert "repair_changed_hours" in error and "hour 2026-01-13T07:00:00Z" in error
    assert "injected failure of this period" in error

    lift(wh, "analytics.execution_metrics_hourly")
    assert run_dag(dagbag, "hourly_rollup", RUN_AT + HOUR, monkeypatch).state == "success"
    for h in hours:
        assert_exact(wh, h)


def test_daily_goes_past_a_failing_day_and_hour_and_names_them(wh, fail_period):
    """The daily run: an earlier changed day that fails holds back only itself; an hour of
    the run's day that fails holds back only itself and that day, which waits for it."""
    day = date(2026, 1, 13)
    workspaces = [str(uuid.uuid4()) for _ in range(3)]
    rng = random.Random(18)
    broken_day, fine_day = day - timedelta(days=3), day - timedelta(days=2)
    at = {name: datetime(d.year, d.month, d.day, h, tzinfo=UTC)
          for name, d, h in (("broken_day", broken_day, 10), ("fine_day", fine_day, 10),
                             ("broken_hour", day, 10), ("fine_hour", day, 12))}
    for start in at.values():
        insert_runs(wh, make_runs(rng, start, 40, workspaces))
    fail_period("analytics.execution_metrics_daily", "day", broken_day)
    fail_period("analytics.runtime_sketch_hourly", "hour", at["broken_hour"])

    with pytest.raises(Exception) as failure:
        periods.daily(wh, day)
    rows = raw_rows(wh)
    # every period that does not depend on a failure was rolled up, before and after them
    assert_matches(wh, daily_metrics(rows, fine_day), "execution_metrics_daily", "day", fine_day,
                   "workspace_activity_daily")
    for name in ("broken_day", "fine_day", "fine_hour"):
        assert_exact(wh, at[name])
    assert hourly_rows(wh, at["broken_hour"]) == []
    assert fetch(wh, "SELECT count(*) FROM analytics.execution_metrics_daily WHERE day IN (%s, %s)",
                 (broken_day, day)) == [(0,)]
    # and the failure names each period that failed or waits
    assert isinstance(failure.value, hourly.PeriodsFailed)
    assert set(failure.value.failed) == {f"day {broken_day}", "hour 2026-01-13T10:00:00Z", f"day {day}"}
    assert "injected failure" in str(failure.value)

    lift(wh, "analytics.execution_metrics_daily")
    lift(wh, "analytics.runtime_sketch_hourly")
    periods.daily(wh, day)  # the next run catches up
    for d in (broken_day, fine_day, day):
        assert_matches(wh, daily_metrics(rows, d), "execution_metrics_daily", "day", d, "workspace_activity_daily")
