"""The 30-day dashboard view reads current days from the daily partials (migration 0018).

Whole days whose daily rows are current come from those rows, every other hour of the
window from the hourly rows. Either way the view must equal the plain-Python computation
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
