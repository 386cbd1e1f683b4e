"""Migration 0031 and the daily rollup built on it: the day's sketch merged in workspace shares
(also on a parallel plan) against bucket-wise sums computed in Python, the one-pass p95
against ops.sketch_quantile (bit for bit) and against the sketch's order statistics in
Python, and ops.sync_period_changes writing only the rows that changed."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from agent_warehouse.rollups import periods
from support import HOUR
from support.checks import H0, fetch, insert_rows
from support.oracle import percentile_cont
from tools.synthetic import insert_runs, make_runs

ZERO_KEY = -2147483648
G = 1.009 / 0.991


def _bucket_value(k: int) -> float:
    return 0.0 if k == ZERO_KEY else 2 * G ** k / (G + 1)


def _sketch_p95(keys: list[int], counts: list[int]) -> float | None:
    """The sketch's p95 in Python: PERCENTILE_CONT over its rows, each at its bucket's value."""
    values = [_bucket_value(k) for k, c in zip(keys, counts, strict=True) for _ in range(c)]
    return percentile_cont(values, 0.95)


@pytest.mark.parametrize("parallel", [False, True])
def test_day_sketch_from_shares_is_the_bucket_wise_sum_and_its_p95_the_sketch_percentile(wh, parallel):
    rng = random.Random(31)
    workspaces = [str(uuid.uuid4()) for _ in range(24)]  # every share of four gets some
    day = H0.replace(hour=0)
    for h in (0, 3, 9, 17, 23):
        insert_runs(wh, make_runs(rng, day + h * HOUR, 600, workspaces))
    insert_rows(wh, [(workspaces[0], None, "completed", day + h * HOUR, 0.0, Decimal("0")) for h in (3, 9)])
    periods.bring_hours_up_to_date(wh, day, day + timedelta(days=1))
    settings = ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size",
                "min_parallel_index_scan_size")
    if parallel:  # every statement of the day's script may now take a parallel plan
        with wh.cursor() as cur:
            for setting in settings:
                cur.execute(f"SET {setting} = 0")
        wh.commit()
    try:
        result = periods.rollup_day(wh, day.date())
    finally:
        with wh.cursor() as cur:
            for setting in settings:
                cur.execute(f"RESET {setting}")
        wh.commit()
    assert result["metric_rows"] == len(workspaces)

    summed: dict[str, Counter] = {}
    totals: dict[str, list] = {}
    for ws, n, s, keys, counts in fetch(
            wh, "SELECT workspace_id::text, runtime_count, runtime_sum, bucket_keys, bucket_counts "
                "FROM analytics.runtime_sketch_hourly WHERE hour >= %s AND hour < %s ORDER BY hour",
            (day, day + timedelta(days=1))):
        summed.setdefault(ws, Counter()).update(dict(zip(keys, counts, strict=True)))
        t = totals.setdefault(ws, [0, 0.0])
        t[0] += n
        t[1] += s  # in hour order, as the rollup sums them
    got = {ws: (n, s, k, c) for ws, n, s, k, c in fetch(
        wh, "SELECT workspace_id::text, runtime_count, runtime_sum, bucket_keys, bucket_counts "
            "FROM analytics.runtime_sketch_daily WHERE day = %s", (day.date(),))}
    expected = {ws: (totals[ws][0], totals[ws][1], sorted(c), [c[k] for k in sorted(c)])
                for ws, c in summed.items()}
    assert got == expected
    assert ZERO_KEY in got[workspaces[0]][2]

    p95 = dict(fetch(wh, "SELECT workspace_id::text, p95_runtime FROM analytics.execution_metrics_daily "
                         "WHERE day = %s", (day.date(),)))
    for ws, (_, _, keys, counts) in expected.items():
        assert p95[ws] == pytest.approx(_sketch_p95(keys, counts), rel=1e-12), ws
    # the same double as the 0001 function over the stored sketch
    (same,), = fetch(wh, "SELECT bool_and(m.p95_runtime = ops.sketch_quantile(s.bucket_keys, s.bucket_counts, 0.95)) "
                         "FROM analytics.execution_metrics_daily m JOIN analytics.runtime_sketch_daily s "
                         "USING (workspace_id, day) WHERE m.day = %s", (day.date(),))
    assert same


def test_one_pass_quantile_is_the_0001_quantile_bit_for_bit(wh):
    rng = random.Random(2031)
    cases = [([5], [1]), ([5], [7]), ([1, 400], [1, 1]), ([ZERO_KEY, 3], [19, 1]), ([ZERO_KEY], [4]),
             ([-3, 10, 11], [3_000_000_000, 8, 2]), ([1, 2, 3], [0, 5, 0]), ([], [])]
    for _ in range(300):
        keys = sorted(rng.sample(range(-150, 600), rng.randint(1, 60)))
        counts = [rng.choice([1, 1, 2, 3, 50, rng.randint(1, 10_000)]) for _ in keys]
        cases.append((keys, counts))
    for q in (0.95, 0.5, 0.0, 1.0, 0.99):
        for keys, counts in cases:
            (old, new), = fetch(wh, "SELECT ops.sketch_quantile(%s::integer[], %s::bigint[], %s), "
                                    "ops.sketch_quantile_of(%s::integer[], %s::bigint[], %s, %s)",
                                (keys, counts, q, keys, counts, sum(counts), q))
            assert new == old, (keys, counts, q)
            if keys and sum(counts) < 100_000:
                assert new == pytest.approx(percentile_cont(
                    [_bucket_value(k) for k, c in zip(keys, counts, strict=True) for _ in range(c)], q), rel=1e-12)


def test_sync_period_changes_writes_only_changed_rows(wh):
    day = H0.date()
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    user = str(uuid.uuid4())

    def sync(rows):
        with wh.cursor() as cur:
            cur.execute("CREATE TEMP TABLE src (workspace_id uuid, user_id uuid, runs bigint, credits numeric) "
                        "ON COMMIT DROP")
            cur.executemany("INSERT INTO src VALUES (%s, %s, %s, %s)", rows)
            cur.execute("SELECT ops.sync_period_changes('analytics.user_activity_daily', 'src', 'day', %s::date, "
                        "ARRAY['workspace_id', 'user_id'], ARRAY['runs', 'credits'])", (day,))
            (written,) = cur.fetchone()
        wh.commit()
        return written

    def table():
        return {r[0]: r[1:] for r in fetch(
            wh, "SELECT workspace_id::text, runs, credits, updated_at FROM analytics.user_activity_daily "
                "WHERE day = %s", (day,))}

    first = [(a, user, 1, Decimal("1.5")), (b, user, 2, Decimal("2")), (c, user, 3, Decimal("0"))]
    assert sync(first) == 3
    before = table()
    assert sync(first) == 0
    assert table() == before  # nothing rewritten: updated_at kept
    # b's credits change, c vanishes, d is new, a stays: 3 rows written
    assert sync([(a, user, 1, Decimal("1.5")), (b, user, 2, Decimal("2.25")), (d, user, 4, Decimal("4"))]) == 3
    after = table()
    assert set(after) == {a, b, d}
    assert after[a] == before[a]
    assert after[b][:2] == (2, Decimal("2.25")) and after[b][2] > before[b][2]
    assert after[d][:2] == (4, Decimal("4"))
