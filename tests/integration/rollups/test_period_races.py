"""Daily and weekly consumption of the invalidation log against concurrent hourly repairs
(issue 10, item 4, first bullet). Two connections, the steps interleaved by hand, so the
order is deterministic: the weekly (or daily) side is paused at a chosen point while the
other side commits a repair of one of the period's hours."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from agent_warehouse.db import statements
from agent_warehouse.rollups import hourly, periods
from support import HOUR
from support.checks import assert_matches, raw_rows
from support.oracle import daily_metrics, weekly_metrics
from tools.synthetic import insert_runs, make_runs

WEEK = date(2026, 1, 5)
DAYS = [WEEK + timedelta(days=i) for i in range(7)]
LATE_HOUR = datetime(2026, 1, 7, 14, tzinfo=UTC)  # Wednesday of the week


@pytest.fixture()
def workspaces():
    return [str(uuid.uuid4()) for _ in range(5)]


def rolled_up_week(conn, workspaces) -> None:
    rng = random.Random(41)
    for d in DAYS:
        insert_runs(conn, make_runs(rng, datetime(d.year, d.month, d.day, tzinfo=UTC), 150, workspaces,
                                    span=timedelta(days=1)))
    periods.weekly(conn, WEEK)


def hourly_repair(conn, workspaces) -> None:
    """The other side: late rows for LATE_HOUR, and the hourly repair of that hour, committed."""
    insert_runs(conn, make_runs(random.Random(42), LATE_HOUR, 60, [*workspaces, str(uuid.uuid4())]))
    assert [r["hour"] for r in hourly.repair(conn, before=LATE_HOUR + HOUR)] == ["2026-01-07T14:00:00Z"]


def assert_week_exact(conn) -> None:
    rows = raw_rows(conn)
    assert_matches(conn, daily_metrics(rows, DAYS[2]), "execution_metrics_daily", "day", DAYS[2],
                   "workspace_activity_daily")
    assert_matches(conn, weekly_metrics(rows, WEEK), "execution_metrics_weekly", "week_start", WEEK,
                   "workspace_activity_weekly")


def test_hourly_repair_between_the_weekly_days_and_its_week(wh, other, workspaces, monkeypatch):
    """The weekly run has brought the week's days up to date; before it consumes the week's
    invalidations and reads the days, an hourly repair of Wednesday commits. The week read
    the old Wednesday, so a later weekly run must recompute it."""
    rolled_up_week(wh, workspaces)
    real = periods.bring_days_up_to_date

    def days_then_repair(conn, first, end, *failed):
        out = real(conn, first, end, *failed)
        if first == WEEK:
            hourly_repair(other, workspaces)
        return out

    monkeypatch.setattr(periods, "bring_days_up_to_date", days_then_repair)
    periods.weekly(wh, WEEK)
    monkeypatch.undo()
    periods.weekly(wh, WEEK + timedelta(days=7))  # the next weekly run
    assert_week_exact(wh)


@pytest.mark.parametrize("grain", ["day", "week"])
def test_repair_committed_inside_a_period_rollup_after_it_consumed_its_log(wh, other, workspaces, grain):
    """The period's rollup has deleted its invalidations but not read its inputs yet when
    the other side repairs Wednesday's hour (and, for the week, recomputes Wednesday)."""
    rolled_up_week(wh, workspaces)
    script = "daily/rollup_day.sql" if grain == "day" else "weekly/rollup_week.sql"
    start = datetime(DAYS[2].year, DAYS[2].month, DAYS[2].day, tzinfo=UTC)
    params = {"day": DAYS[2], "start": start, "end": start + timedelta(days=1), "week": WEEK}
    with wh.cursor() as cur:
        paused = False
        for statement in statements(script):
            cur.execute(statement, params)
            if not paused and "ops.begin_rollup(" in statement:  # consumes the log (migration 0023)
                paused = True
                hourly_repair(other, workspaces)
                if grain == "week":
                    periods.rollup_day(other, DAYS[2])
        assert paused
    wh.commit()
    periods.weekly(wh, WEEK + timedelta(days=7))  # the next weekly run (and its days)
    assert_week_exact(wh)
