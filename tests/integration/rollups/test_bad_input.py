"""Bad input (issue 10, item 6): infinite, negative and NaN credits or runtimes and unknown
statuses are counted by reason and left out of every metric, hourly to weekly; valid rows
beside them (NULL user_id included) stay exact."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from agent_warehouse.rollups import periods
from support import HOUR
from support.checks import H0, RUN_AT, assert_exact, assert_matches, fetch, raw_rows
from support.oracle import daily_metrics, defect, is_bad, weekly_metrics
from support.runs import run_dag
from tools.synthetic import Run, insert_runs, make_runs

INF, NAN = float("inf"), float("nan")


def as_text(value: object) -> str | None:
    return None if value is None else str(value)


def test_bad_rows_are_counted_by_reason_and_valid_rows_stay_exact(wh, dagbag, monkeypatch):
    good, mixed = str(uuid.uuid4()), str(uuid.uuid4())
    rng = random.Random(61)
    insert_runs(wh, make_runs(rng, H0, 300, [good, mixed]))
    t = H0 + timedelta(minutes=17)
    bad = [
        Run(mixed, None, "completed", t, 5.0, Decimal("Infinity")),
        Run(mixed, None, "completed", t, 5.0, Decimal("-Infinity")),
        Run(mixed, str(uuid.uuid4()), "completed", t, INF, Decimal("1.5")),
        Run(mixed, None, "failed", t, -INF, Decimal("1.5")),
        Run(mixed, None, "completed", t, 3.0, Decimal("-0.01")),
        Run(mixed, None, "completed", t, -2.0, Decimal("0.5")),
        Run(mixed, None, "completed", t, NAN, Decimal("0.5")),
        Run(mixed, None, "completed", t, 4.0, Decimal("NaN")),
        Run(mixed, None, "succeeded", t, 4.0, Decimal("0.5")),
        Run(mixed, None, "COMPLETED", t, INF, Decimal("Infinity")),
        Run(good, None, "completed", t, INF, None),
        Run(good, None, "running", t, None, Decimal("Infinity")),
    ]
    valid_null_user = [Run(mixed, None, "completed", t + timedelta(seconds=i), 1.0 + i, Decimal("0.25"))
                       for i in range(5)]
    # Values as text, cast by PostgreSQL: psycopg2 sends a non-finite Decimal as 'NaN'.
    with wh.cursor() as cur:
        for r in bad + valid_null_user:
            cur.execute("INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at, runtime_seconds, "
                        "credits_consumed) VALUES (%s, %s, %s, %s, %s::float8, %s::numeric)",
                        (r.workspace_id, r.user_id, r.status, r.started_at, as_text(r.runtime_seconds),
                         as_text(r.credits_consumed)))
    wh.commit()
    stored = fetch(wh, "SELECT credits_consumed::text, runtime_seconds::text FROM public.agent_runs "
                       "WHERE started_at = %s", (t,))
    assert ("Infinity", "5") in stored and ("-Infinity", "5") in stored and ("1.5", "Infinity") in stored
    insert_runs(wh, make_runs(rng, H0 + 3 * HOUR, 50, [good, mixed]))  # another hour of the day

    assert run_dag(dagbag, "hourly_rollup", RUN_AT, monkeypatch).state == "success"
    assert_exact(wh, H0)

    rows = raw_rows(wh)
    expected = Counter((str(r[0]), defect(r[2], r[4], r[5])) for r in rows
                       if H0 <= r[3] < H0 + HOUR and is_bad(r[2], r[4], r[5]))
    assert sum(expected.values()) == len(bad)
    got = dict(((ws, reason), n) for ws, reason, n in fetch(
        wh, "SELECT workspace_id::text, reason, row_count FROM ops.rejected_runs_hourly WHERE hour = %s", (H0,)))
    assert got == dict(expected)
    assert {reason for _, reason in expected} == {"unknown_status", "invalid_runtime", "invalid_credits"}
    ((details,),) = fetch(wh, "SELECT details FROM ops.job_runs WHERE dag_id = 'hourly_rollup'")
    assert details["bad_rows"] == len(bad)

    # Nothing infinite or NaN reaches the daily and weekly totals.
    day = H0.date()
    periods.weekly(wh, day - timedelta(days=day.weekday()))
    assert_matches(wh, daily_metrics(rows, day), "execution_metrics_daily", "day", day, "workspace_activity_daily")
    week = day - timedelta(days=day.weekday())
    assert_matches(wh, weekly_metrics(rows, week), "execution_metrics_weekly", "week_start", week,
                   "workspace_activity_weekly")
    assert fetch(wh, "SELECT count(*) FROM analytics.execution_metrics_weekly "
                     "WHERE total_credits IN ('Infinity', '-Infinity', 'NaN') "
                     "OR avg_runtime IN ('Infinity', '-Infinity', 'NaN')") == [(0,)]


def test_oracle_treats_infinities_as_bad():
    assert is_bad("completed", 1.0, Decimal("Infinity")) and is_bad("completed", -INF, None)
    assert defect("completed", 1.0, Decimal("Infinity")) == "invalid_credits"
    assert defect("nope", INF, Decimal("NaN")) == "unknown_status"
    assert defect("failed", None, None) is None


def test_usable_is_exactly_no_defect(wh):
    """ops.agent_run_usable (the planner-friendly predicate of the hourly step, migration 0019)
    accepts exactly the rows ops.agent_run_defect finds nothing wrong with, edge values too."""
    statuses = [None, "completed", "failed", "queued", "running", "cancelled", "COMPLETED", "done", ""]
    runtimes = [None, 0.0, -0.0, 1e-300, 5.5, 1e300, -1e-300, -5.5, INF, -INF, NAN,
                5e-324, 1e-6, math.nextafter(1e-6, 0), 1e9, math.nextafter(1e9, INF)]  # the bounds of 0022
    credits = [None, "0", "-0", "0.0001", "12.5", "1e100", "-0.01", "-1e100", "Infinity", "-Infinity", "NaN",
               "1e-9", "0.000000000999999", "1e15", "1000000000000000.000001", "1e-16383"]
    rows = fetch(wh, """
        SELECT s, r, c::text, ops.agent_run_defect(s, r, c) IS NULL, ops.agent_run_usable(s, r, c) IS TRUE
        FROM unnest(%s::text[]) s, unnest(%s::float8[]) r, unnest(%s::numeric[]) c""",
        (statuses, runtimes, credits))
    assert len(rows) == len(statuses) * len(runtimes) * len(credits)
    assert [r for r in rows if r[3] != r[4]] == []
    # and both agree with the oracle's definition
    assert all(r[3] == (defect(r[0], r[1], None if r[2] is None else Decimal(r[2])) is None) for r in rows)
