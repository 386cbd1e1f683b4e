"""The hourly step's exact p95 from bucket counts, its runtime sums, rows written, and
ops.sync_period (migration 0016), checked against tests/support/oracle.py."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from decimal import Decimal

from agent_warehouse.rollups import hourly
from support.checks import H0, assert_exact, fetch, insert_rows
from support.oracle import metrics, percentile_cont
from tools.synthetic import insert_runs, make_runs


def test_p95_is_exact_where_its_ranks_fall_inside_a_crowded_bucket(wh):
    """Ranks inside a bucket (not its first or last row) make the step re-read that bucket's
    rows: many distinct runtimes within 0.9% of each other, ties, zeros and single rows."""
    rng = random.Random(21)
    crowded, ties, zeros, single, mixed = (str(uuid.uuid4()) for _ in range(5))
    at = [H0 + timedelta(seconds=i) for i in range(3000)]
    rows = []
    # 400 runtimes in [100, 100.5): a handful of log buckets, p95's ranks deep inside one
    rows += [(crowded, None, "completed", at[i], 100 + rng.random() / 2, Decimal("1")) for i in range(400)]
    rows += [(ties, None, "completed", at[i], 7.25, Decimal("0.5")) for i in range(50)]
    rows += [(ties, None, "failed", at[i], 7.5, None) for i in range(3)]
    rows += [(zeros, None, "completed", at[i], 0.0, Decimal("0")) for i in range(30)]
    rows += [(zeros, None, "completed", at[30], 2.0, Decimal("0"))]
    rows += [(single, None, "completed", at[0], 3.5, Decimal("0.1"))]
    # bad rows whose runtimes fall inside the crowded buckets must not be ranked
    rows += [(crowded, None, "exploded", at[i], 100.25, Decimal("1")) for i in range(20)]
    rows += [(crowded, None, "completed", at[i], 100.3, Decimal("-1")) for i in range(20)]
    insert_rows(wh, rows)
    insert_runs(wh, make_runs(rng, H0, 2000, [mixed]))
    hourly.rollup_hour(wh, H0)
    assert_exact(wh, H0)  # p95 to 1e-9, the counts, sums and credits exactly
    got = dict(fetch(wh, "SELECT workspace_id::text, p95_runtime FROM analytics.execution_metrics_hourly "
                         "WHERE hour = %s", (H0,)))
    for ws in (crowded, ties, zeros, single):  # bit for bit, as PERCENTILE_CONT computes it
        good = [r[4] for r in rows if r[0] == ws and r[2] != "exploded" and r[5] is not None and r[5] >= 0
                or r[0] == ws and r[2] == "failed"]
        assert got[ws] == percentile_cont(good, 0.95), ws
    assert (got[ties], got[zeros], got[single]) == (7.35, 0.0, 3.5)


def test_runtime_sums_and_sketch_counts_match_the_raw_rows(wh):
    rng = random.Random(4)
    workspaces = [str(uuid.uuid4()) for _ in range(6)]
    runs = make_runs(rng, H0, 3000, workspaces)
    runs[0].runtime_seconds = 1.0e9  # the largest accepted runtime (migration 0022; 3e11 is rejected now)
    insert_runs(wh, runs)
    hourly.rollup_hour(wh, H0)
    rows = fetch(wh, "SELECT workspace_id::text, user_id, status, %s::timestamptz, runtime_seconds, "
                     "credits_consumed FROM public.agent_runs", (H0,))
    expected = metrics(rows, H0, H0 + timedelta(hours=1))
    sketch = {r[0]: r[1:] for r in fetch(
        wh, "SELECT workspace_id::text, runtime_count, runtime_sum, "
            "(SELECT sum(c) FROM unnest(bucket_counts) c) FROM analytics.runtime_sketch_hourly "
            "WHERE hour = %s", (H0,))}
    for ws, exp in expected.items():
        runtimes = [r[4] for r in rows if r[0] == ws and r[4] is not None]
        count, total, in_buckets = sketch[ws]
        assert count == len(runtimes) == in_buckets
        assert abs(total - sum(runtimes)) <= 1e-9 * abs(sum(runtimes))
        assert abs(total / count - exp["avg_runtime"]) <= 1e-9 * exp["avg_runtime"]


def test_the_step_returns_rows_written_and_an_unchanged_rerun_writes_none(wh):
    workspaces = [str(uuid.uuid4()) for _ in range(4)]
    insert_runs(wh, make_runs(random.Random(8), H0, 600, workspaces))
    first = hourly.rollup_hour(wh, H0)
    users = fetch(wh, "SELECT count(*) FROM analytics.user_activity_hourly WHERE hour = %s", (H0,))[0][0]
    assert (first["metric_rows"], first["user_rows"]) == (4, users)
    again = hourly.rollup_hour(wh, H0)
    assert (again["metric_rows"], again["user_rows"], again["bad_rows"]) == (0, 0, 0)
    with wh.cursor() as cur:  # one workspace's runs all go: its rows are deleted, and counted
        cur.execute("DELETE FROM public.agent_runs WHERE workspace_id = %s", (workspaces[0],))
    wh.commit()
    gone = hourly.rollup_hour(wh, H0)
    assert gone["metric_rows"] == 1 and gone["user_rows"] > 0
    assert_exact(wh, H0)


def test_sync_period_deletes_what_vanished_and_writes_only_what_changed(wh):
    """The one shape every grain's rollup can use: ops.sync_period (migration 0016)."""
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    day = H0.date()
    with wh.cursor() as cur:
        cur.execute("INSERT INTO analytics.workspace_activity_daily (workspace_id, day, active_users, "
                    "runs, runs_per_user, total_credits, credits_per_user, updated_at) VALUES "
                    "(%s, %s, 1, 1, 1, 1, 1, '2000-01-01'), (%s, %s, 2, 2, 1, 2, 1, '2000-01-01'), "
                    "(%s, %s - 1, 9, 9, 1, 9, 1, '2000-01-01')", (a, day, b, day, c, day))
        cur.execute("CREATE TEMP TABLE src (workspace_id uuid, active_users bigint, runs bigint, "
                    "runs_per_user float8, total_credits numeric, credits_per_user numeric)")
        cur.execute("INSERT INTO src VALUES (%s, 1, 1, 1, 1, 1), (%s, 5, 5, 1, 5, 1)", (a, c))
        cur.execute("SELECT ops.sync_period('analytics.workspace_activity_daily', 'src', 'day', %s::date, "
                    "ARRAY['workspace_id'], ARRAY['active_users', 'runs', 'runs_per_user', 'total_credits', "
                    "'credits_per_user'])", (day,))
        assert cur.fetchone()[0] == 2  # b deleted, c inserted; a unchanged
        cur.execute("SELECT workspace_id::text, day, runs, updated_at = '2000-01-01' "
                    "FROM analytics.workspace_activity_daily ORDER BY day, runs")
        rows = cur.fetchall()
    wh.rollback()
    assert rows == [(c, day - timedelta(days=1), 9, True), (a, day, 1, True), (c, day, 5, False)]
