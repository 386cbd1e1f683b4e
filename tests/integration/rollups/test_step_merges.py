"""Migration 0027 and the hourly step's p95 from pass 1's runtimes: the boundary cases of the
exact p95 (one bucket holding every run, one or two runs, floor and ceil ranks in different
buckets, bad rows inside the bucket), the sketch merges of days and weeks against
bucket-wise sums computed in Python, and the 7-day leaderboard's users."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from agent_warehouse.rollups import hourly, periods, views
from support import HOUR
from support.checks import H0, assert_exact, fetch, insert_rows, raw_rows
from support.oracle import metrics, percentile_cont
from tools.synthetic import insert_runs, make_runs

ZERO_KEY = -2147483648


def test_p95_is_exact_when_every_run_is_in_one_bucket_and_for_one_or_two_runs(wh):
    rng = random.Random(27)
    one_bucket, one_run, two_runs, split, ties = (str(uuid.uuid4()) for _ in range(5))
    at = [H0 + timedelta(seconds=i) for i in range(1000)]
    rows = []
    # 500 distinct runtimes within 0.5% of each other: one log bucket, the p95 ranks deep inside
    rows += [(one_bucket, None, "completed", at[i], 50 + rng.random() / 4, Decimal("1")) for i in range(500)]
    # bad rows with runtimes inside that bucket are counted apart, never ranked
    rows += [(one_bucket, None, "bogus", at[i], 50.1, Decimal("1")) for i in range(30)]
    rows += [(one_bucket, None, "completed", at[i], 50.1, Decimal("-2")) for i in range(30)]
    rows += [(one_run, None, "failed", at[0], 12.5, None)]
    # pos = 0.95: ranks 0 and 1 in buckets far apart
    rows += [(two_runs, None, "completed", at[0], 1.0, Decimal("1")),
             (two_runs, None, "completed", at[1], 1000.0, Decimal("1"))]
    # 41 runs: pos = 38, one rank, the first after a crowded bucket
    rows += [(split, None, "completed", at[i], 10 + i / 1000, Decimal("0")) for i in range(38)]
    rows += [(split, None, "completed", at[40 + i], 20 + i / 1000, Decimal("0")) for i in range(3)]
    # ties across the boundary ranks
    rows += [(ties, None, "completed", at[i], 3.0 if i < 95 else 4.0, Decimal("0")) for i in range(100)]
    insert_rows(wh, rows)
    insert_runs(wh, make_runs(rng, H0, 1500, [str(uuid.uuid4()) for _ in range(3)]))
    result = hourly.rollup_hour(wh, H0)
    assert result["bad_rows"] == 60
    assert_exact(wh, H0)
    got = dict(fetch(wh, "SELECT workspace_id::text, p95_runtime FROM analytics.execution_metrics_hourly "
                         "WHERE hour = %s", (H0,)))
    for ws in (one_bucket, one_run, two_runs, split, ties):  # bit for bit, as PERCENTILE_CONT computes it
        good = [r[4] for r in rows if r[0] == ws and r[2] != "bogus" and (r[5] is None or r[5] >= 0)]
        assert got[ws] == percentile_cont(good, 0.95), ws
    keys = dict(fetch(wh, "SELECT workspace_id::text, cardinality(bucket_keys) FROM analytics.runtime_sketch_hourly "
                          "WHERE hour = %s", (H0,)))
    assert keys[one_bucket] == 1 and keys[one_run] == 1 and keys[two_runs] == 2
    assert got[one_run] == 12.5


def _sketches(conn, table, key, start, end):
    return fetch(conn, f"SELECT workspace_id::text, bucket_keys, bucket_counts FROM analytics.{table} "
                       f"WHERE {key} >= %s AND {key} < %s", (start, end))


def _summed(rows):
    out: dict[str, Counter] = {}
    for ws, keys, counts in rows:
        out.setdefault(ws, Counter()).update(dict(zip(keys, counts, strict=True)))
    return {ws: (sorted(c), [c[k] for k in sorted(c)]) for ws, c in out.items()}


def test_day_and_week_sketches_are_the_bucket_wise_sums_of_their_parts(wh):
    rng = random.Random(7)
    workspaces = [str(uuid.uuid4()) for _ in range(5)]
    day = H0.replace(hour=0)
    for h in (0, 5, 9, 23):
        insert_runs(wh, make_runs(rng, day + h * HOUR, 400, workspaces))
    # zero runtimes (their own bucket, the smallest key) in two hours
    insert_rows(wh, [(workspaces[0], None, "completed", day + h * HOUR, 0.0, Decimal("0")) for h in (5, 9)])
    insert_runs(wh, make_runs(rng, day + timedelta(days=2, hours=3), 300, workspaces[:3]))
    periods.bring_days_up_to_date(wh, day.date(), day.date() + timedelta(days=7))
    daily = _sketches(wh, "runtime_sketch_daily", "day", day.date(), day.date() + timedelta(days=1))
    assert {ws: (k, c) for ws, k, c in daily} == _summed(
        _sketches(wh, "runtime_sketch_hourly", "hour", day, day + timedelta(days=1)))
    assert any(ZERO_KEY in k for _, k, _ in daily)
    periods.rollup_week(wh, day.date())
    weekly = _sketches(wh, "runtime_sketch_weekly", "week_start", day.date(), day.date() + timedelta(days=1))
    assert {ws: (k, c) for ws, k, c in weekly} == _summed(
        _sketches(wh, "runtime_sketch_daily", "day", day.date(), day.date() + timedelta(days=7)))


def test_merge_functions_sum_counts_past_32_bits_and_agree_with_sketch_merge(wh):
    ws = str(uuid.uuid4())
    parts = [([ZERO_KEY, -3, 10], [5, 3_000_000_000, 1]), ([-3, 11], [3_000_000_000, 2]), ([10], [7])]
    with wh.cursor() as cur:
        cur.execute("CREATE TEMP TABLE parts (keys integer[], counts bigint[])")
        cur.executemany("INSERT INTO parts VALUES (%s, %s)", parts)
        cur.execute("SELECT (m).bucket_keys, (m).bucket_counts FROM (SELECT ops.sketch_merge("
                    "ops.array_concat_agg(keys), ops.array_concat_agg(counts)) AS m FROM parts) x")
        merged = cur.fetchone()
        # direct rows, rolled back below
        for i, (keys, counts) in enumerate(parts):
            cur.execute("INSERT INTO analytics.runtime_sketch_hourly (workspace_id, hour, runtime_count, "
                        "runtime_sum, bucket_keys, bucket_counts) VALUES (%s, %s, %s, 1, %s, %s)",
                        (ws, H0 + i * HOUR, sum(counts), keys, counts))
            cur.execute("INSERT INTO analytics.runtime_sketch_daily (workspace_id, day, runtime_count, "
                        "runtime_sum, bucket_keys, bucket_counts) VALUES (%s, %s, %s, 1, %s, %s)",
                        (ws, H0.date() + timedelta(days=i), sum(counts), keys, counts))
        cur.execute("SELECT * FROM ops.hourly_sketches_merged(%s, %s, %s)", (ws, H0, H0 + 3 * HOUR))
        by_hours = cur.fetchone()
        cur.execute("SELECT * FROM ops.daily_sketches_merged(%s, %s, %s)", (ws, H0.date(), H0.date() + timedelta(days=7)))
        by_days = cur.fetchone()
    wh.rollback()
    expected = ([ZERO_KEY, -3, 10, 11], [5, 6_000_000_000, 8, 2])
    assert (merged[0], merged[1]) == (by_hours[0], by_hours[1]) == (by_days[0], by_days[1]) == expected


def _assert_leaderboard_matches_raw(wh) -> None:
    views.refresh(wh)
    (refreshed,), = fetch(wh, "SELECT max(refreshed_at) FROM analytics.workspace_leaderboard_7d")
    expected = metrics(raw_rows(wh), refreshed - timedelta(days=7), refreshed)
    got = {r[0]: r[1:] for r in fetch(
        wh, "SELECT workspace_id::text, total_executions, total_credits, active_users "
            "FROM analytics.workspace_leaderboard_7d")}
    assert got == {ws: (e["total_executions"], e["total_credits"], e["active_users"]) for ws, e in expected.items()}


def test_leaderboard_counts_users_from_current_daily_rows_and_the_other_hours(wh):
    """The 7-day leaderboard (migration 0027) reads whole current days from user_activity_daily:
    its distinct users must equal the raw rows' over the window, also while a day is stale."""
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(70)
    workspaces = [str(uuid.uuid4()) for _ in range(4)]
    whole_days = [today - timedelta(days=n) for n in (2, 5)]
    hours = [d + HOUR * h for d in whole_days for h in (0, 11, 23)]
    hours += [now.replace(minute=0, second=0, microsecond=0) - timedelta(days=7) + 2 * HOUR,  # the partial first day
              today - timedelta(days=9),  # before the window
              now.replace(minute=0, second=0, microsecond=0) - HOUR]  # today
    for h in hours:
        insert_runs(wh, make_runs(rng, h, 150, workspaces))
        hourly.rollup_hour(wh, h)
    for d in whole_days:
        periods.rollup_day(wh, d.date())
    _assert_leaderboard_matches_raw(wh)

    # new users late in a day already rolled up: the day is stale, read from its hours
    late = whole_days[0] + 11 * HOUR
    insert_runs(wh, make_runs(rng, late, 200, workspaces[:2]))
    hourly.repair(wh, before=late + HOUR)
    _assert_leaderboard_matches_raw(wh)
    periods.daily(wh, whole_days[0].date())
    _assert_leaderboard_matches_raw(wh)
