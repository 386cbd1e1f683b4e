"""The 30-day dashboard view reads current weeks and days from the weekly and daily partials
(migrations 0018, 0028).

Whole weeks and days whose weekly or daily rows are current come from those rows, every
other hour of the window from the hourly rows. Either way the view must equal the plain-Python computation
over the raw rows, including after a late change that left a day's daily rows stale.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

from agent_warehouse.rollups import hourly, periods, views
from support import HOUR
from support.checks import fetch, raw_rows
from support.oracle import metrics, percentile_cont
from tools.synthetic import insert_runs, make_runs


def assert_summary_matches_raw(wh) -> None:
    views.refresh(wh)
    (refreshed,), = fetch(wh, "SELECT max(refreshed_at) FROM analytics.workspace_summary_30d")
    since = refreshed - timedelta(days=30)
    raw = raw_rows(wh)
    expected = metrics(raw, since, refreshed)
    got = {r[0]: r[1:] for r in fetch(
        wh, "SELECT workspace_id::text, total_executions, successful_executions, failed_executions, "
            "avg_runtime, p95_runtime, total_credits FROM analytics.workspace_summary_30d")}
    assert set(got) == set(expected)
    for ws, e in expected.items():
        total, ok, failed, avg, p95, credits = got[ws]
        assert (total, ok, failed, credits) == (e["total_executions"], e["successful_executions"],
                                               e["failed_executions"], e["total_credits"]), ws
        runtimes = [r[4] for r in raw if str(r[0]) == ws and r[4] is not None and since <= r[3] < refreshed]
        assert math.isclose(avg, sum(runtimes) / len(runtimes), rel_tol=1e-9)
        exact = percentile_cont(runtimes, 0.95)
        assert abs(p95 - exact) <= 0.01 * exact


def test_summary_reads_current_days_from_daily_rows_and_stale_days_from_hours(wh):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(18)
    workspaces = [str(uuid.uuid4()) for _ in range(5)]
    whole_days = [today - timedelta(days=n) for n in (3, 12, 27)]
    hours = [d + HOUR * h for d in whole_days for h in (0, 7, 23)]
    hours += [today - timedelta(days=40), datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - HOUR]
    for h in hours:
        insert_runs(wh, make_runs(rng, h, 120, workspaces))
        hourly.rollup_hour(wh, h)
    for d in whole_days:
        periods.rollup_day(wh, d.date())
    assert_summary_matches_raw(wh)

    # Late rows for a day already rolled up: the hourly run re-rolls its hour, which marks
    # the day stale; until the next daily run the view must read that day from its hours.
    late = whole_days[1] + 7 * HOUR
    insert_runs(wh, make_runs(rng, late, 300, workspaces[:2]))
    hourly.repair(wh, before=late + HOUR)
    assert fetch(wh, "SELECT count(*) > 0 FROM ops.rollup_invalidations WHERE grain = 'day' AND period = %s",
                 (whole_days[1].date(),)) == [(True,)]
    assert_summary_matches_raw(wh)

    # And once the daily run has caught up, from its daily rows again.
    periods.daily(wh, whole_days[1].date())
    assert_summary_matches_raw(wh)


def _monday(d: datetime) -> datetime:
    return d - timedelta(days=d.weekday())


def _shift_weekly_credits(wh, week_start, delta: int) -> None:
    """Change the week's weekly rows behind the pipeline's back (its triggers off), so the
    view's numbers show whether it read them."""
    with wh.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("UPDATE analytics.execution_metrics_weekly SET total_credits = total_credits + %s "
                    "WHERE week_start = %s", (delta, week_start))
    wh.commit()


def test_summary_reads_current_weeks_from_weekly_rows_and_stale_weeks_from_finer_rows(wh):
    """Whole current ISO weeks of the window come from the weekly partials (migration 0028):
    the view equals the raw rows' metrics either way, reads a current week's weekly rows, and
    falls back to days and hours while a day of the week, then the week itself, is stale."""
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = _monday(today) - timedelta(days=14)  # whole, before this week, inside the 30 days
    rng = random.Random(28)
    workspaces = [str(uuid.uuid4()) for _ in range(4)]
    hours = [week + timedelta(days=d) + HOUR * h for d in range(7) for h in (0, 13)]
    hours += [week + timedelta(days=8) + 5 * HOUR,  # a whole day after the week
              now.replace(minute=0, second=0, microsecond=0) - HOUR]  # today
    for h in hours:
        insert_runs(wh, make_runs(rng, h, 60, workspaces))
        hourly.rollup_hour(wh, h)
    periods.rollup_day(wh, (week + timedelta(days=8)).date())
    periods.weekly(wh, week.date())
    assert fetch(wh, "SELECT count(*) FROM ops.periods_rolled_up WHERE grain = 'week' AND period = %s",
                 (week.date(),)) == [(1,)]
    assert_summary_matches_raw(wh)

    # The weekly rows are what the view reads for the week: shifted, the view shows the shift.
    before = dict(fetch(wh, "SELECT workspace_id::text, total_credits FROM analytics.workspace_summary_30d"))
    _shift_weekly_credits(wh, week.date(), 1000)
    views.refresh(wh)
    after = dict(fetch(wh, "SELECT workspace_id::text, total_credits FROM analytics.workspace_summary_30d"))
    assert after == {ws: c + 1000 for ws, c in before.items()}

    # Late rows in a day of the week: the hour is re-rolled and logs its day, not its week. The
    # week's rows (still shifted) must not be read: the view equals the raw rows again.
    late = week + timedelta(days=3) + 13 * HOUR
    insert_runs(wh, make_runs(rng, late, 90, workspaces[:2]))
    hourly.repair(wh, before=late + HOUR)
    assert fetch(wh, "SELECT count(*) FROM ops.rollup_invalidations WHERE grain = 'week' AND period = %s",
                 (week.date(),)) == [(0,)]
    assert_summary_matches_raw(wh)

    # The daily run recomputes the day, which logs the week: read from its days meanwhile.
    periods.daily(wh, late.date())
    assert fetch(wh, "SELECT count(*) > 0 FROM ops.rollup_invalidations WHERE grain = 'week' AND period = %s",
                 (week.date(),)) == [(True,)]
    assert_summary_matches_raw(wh)

    # The weekly run recomputes the week (the shift goes): read from the weekly rows again.
    periods.weekly(wh, week.date())
    assert fetch(wh, "SELECT count(*) FROM ops.rollup_invalidations WHERE grain = 'week' AND period = %s",
                 (week.date(),)) == [(0,)]
    assert_summary_matches_raw(wh)
    before = dict(fetch(wh, "SELECT workspace_id::text, total_credits FROM analytics.workspace_summary_30d"))
    _shift_weekly_credits(wh, week.date(), 1)
    views.refresh(wh)
    after = dict(fetch(wh, "SELECT workspace_id::text, total_credits FROM analytics.workspace_summary_30d"))
    _shift_weekly_credits(wh, week.date(), -1)
    assert after == {ws: c + 1 for ws, c in before.items()}
