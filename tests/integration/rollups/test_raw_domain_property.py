"""Any value PostgreSQL accepts in public.agent_runs (issue 17, section 1).

Hypothesis draws rows over each column's whole domain (±infinity and BC start times, any
time zone offset, NaN, subnormal and 1e308 runtimes, huge and tiny numerics, NULLs, unknown
statuses, duplicates), then late updates, deletes and inserts between real Airflow runs of
``hourly_rollup`` and ``daily_rollup`` (the first hour through the functions its tasks call).
After every run: the run and its audit row succeeded,
accepted rows are exact against the Python oracle, every rejected row is counted under its
reason (per hour, or in ops.rejected_runs_out_of_range when its start time has no supported
hour), and no rollup holds an infinity or NaN.

The example budget comes from the ``raw-domain`` profile (conftest.py);
``HYPOTHESIS_PROFILE=long`` runs the longer one.
"""

from __future__ import annotations

import math
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, note, settings
from hypothesis import strategies as st

from agent_warehouse.rollups import hourly
from support import HOUR
from support.checks import COLUMNS, assert_matches, fetch
from support.oracle import STARTED_AT_FROM, daily_metrics, hour_of, metrics, out_of_range, rejected
from support.runs import run_dag

PROFILE = settings.get_profile("raw-domain-long" if os.environ.get("HYPOTHESIS_PROFILE") == "long"
                               else "raw-domain")
H0 = datetime(2026, 1, 12, 9, tzinfo=UTC)  # a day no other test of this module uses
HOURLY_RUN = H0 + 2 * HOUR + timedelta(minutes=5)  # rolls up H0 + 1h
DAY = H0.date()
DAILY_RUN = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=1, hours=1)
WORKSPACES = [str(uuid.UUID(int=0)), str(uuid.UUID(int=2**128 - 1)), str(uuid.uuid4()), str(uuid.uuid4())]
USERS = [None, str(uuid.UUID(int=0)), str(uuid.UUID(int=2**128 - 1)), str(uuid.uuid4()), str(uuid.uuid4())]
STATUSES = ["queued", "running", "completed", "failed", "cancelled"]
TABLES = ("public.agent_runs", "ops.agent_runs_invalidations", "ops.hours_rolled_up", "ops.rollup_invalidations",
          "ops.periods_rolled_up", "ops.job_runs", "ops.rejected_runs_hourly", "analytics.execution_metrics_hourly",
          "analytics.runtime_sketch_hourly", "analytics.user_activity_hourly", "analytics.workspace_activity_hourly",
          "analytics.execution_metrics_daily", "analytics.runtime_sketch_daily", "analytics.user_activity_daily",
          "analytics.workspace_activity_daily", "analytics.workspace_health_daily", "analytics.daily_reports",
          "analytics.execution_metrics_weekly", "analytics.runtime_sketch_weekly",
          "analytics.workspace_activity_weekly")

# ------------------------------------------------------------------- the drawn values
# Every value is sent as text and cast by PostgreSQL, which is how it would read any writer's.
EDGE_STARTS = ["-infinity", "infinity", "4713-01-01 00:00:00+00 BC", "0001-01-01 00:00:00+00",
               "294276-12-31 23:59:59.999999+00", "2200-01-01 00:00:00+00", "1970-01-01 00:00:00+00",
               "1999-12-31 23:59:59.999999+00", "2000-01-01 00:00:00+00", "2000-01-01 00:00:00+15:59",
               "2099-12-31 23:59:59.999999+00", "2100-01-01 00:00:00+00", "2026-01-12 09:59:59.999999+00",
               "2026-01-12 10:00:00-15:59"]


def offset_time(moment: datetime, minutes: int) -> str:
    return moment.astimezone(timezone(timedelta(minutes=minutes))).isoformat()


OFFSETS = st.integers(-15 * 60 - 59, 15 * 60 + 59)
NEAR = st.builds(lambda h, us, tz: offset_time(H0 + h * HOUR + timedelta(microseconds=us), tz),
                 st.integers(-2, 2), st.integers(0, 3_600_000_000 - 1), OFFSETS)
ANYWHEN = st.builds(offset_time, st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                                              timezones=st.just(UTC)), OFFSETS)
STARTS = st.one_of(NEAR, NEAR, NEAR, st.sampled_from(EDGE_STARTS), ANYWHEN)


def float_text(x: float | None) -> str | None:
    if x is None:
        return None
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x == math.inf else "-Infinity" if x == -math.inf else repr(x)


EDGE_RUNTIMES = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1e-300, math.nextafter(1e-6, 0), 1e-6, 1e9,
                 math.nextafter(1e9, math.inf), 1e308, 1.7976931348623157e308, -1e308, -5e-324, math.inf,
                 -math.inf, math.nan]
RUNTIMES = st.one_of(st.none(), st.floats(1e-6, 1e9), st.floats(0, 3600), st.sampled_from(EDGE_RUNTIMES),
                     st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)).map(float_text)

EDGE_CREDITS = ["0", "-0", "0.0000", "1e-9", "9.99999999e-10", "1e15", "1000000000000000.000000001",
                "1e131071", "-1e131071", "1e-16383", "-1e-16383", "1.5e-16000", "123.4567",
                "NaN", "Infinity", "-Infinity", "-0.01"]
HUGE_NUMERICS = st.builds(lambda m, e: str(Decimal(m).scaleb(e)), st.integers(-(10**30), 10**30),
                          st.integers(-16_000, 130_000))
CREDITS = st.one_of(st.none(), st.decimals(0, 10**6, places=4).map(str), st.sampled_from(EDGE_CREDITS),
                    HUGE_NUMERICS)
STATUS = st.one_of(st.sampled_from(STATUSES), st.sampled_from(STATUSES),
                   st.sampled_from(["COMPLETED", " completed", "completed\n", "", "succeeded", "null"]),
                   st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10))


@dataclass(frozen=True)
class Row:
    workspace_id: str
    user_id: str | None
    status: str
    started_at: str
    runtime_seconds: str | None
    credits_consumed: str | None


ROWS = st.builds(Row, st.sampled_from(WORKSPACES), st.sampled_from(USERS), STATUS, STARTS, RUNTIMES, CREDITS)
COLUMN_VALUES = {"status": STATUS, "started_at": STARTS, "runtime_seconds": RUNTIMES, "credits_consumed": CREDITS,
                 "user_id": st.sampled_from(USERS)}
CASTS = {"status": "text", "started_at": "timestamptz", "runtime_seconds": "float8", "credits_consumed": "numeric",
         "user_id": "uuid"}
CHANGES = st.one_of(
    st.tuples(st.just("update"), st.integers(0, 10**6), st.sampled_from(sorted(COLUMN_VALUES))).flatmap(
        lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.just(t[2]), COLUMN_VALUES[t[2]])),
    st.tuples(st.just("delete"), st.integers(0, 10**6)),
    st.tuples(st.just("duplicate"), st.integers(0, 10**6)),
    st.tuples(st.just("insert"), ROWS),
)


# ------------------------------------------------------------------------ the warehouse
def reset(conn) -> None:
    conn.rollback()  # whatever a failed example left open
    with conn.cursor() as cur:
        cur.execute("TRUNCATE " + ", ".join(TABLES))
    conn.commit()


def insert(conn, rows: list[Row]) -> None:
    with conn.cursor() as cur:
        for r in rows:
            cur.execute("INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at, runtime_seconds, "
                        "credits_consumed) VALUES (%s, %s, %s, %s::timestamptz, %s::float8, %s::numeric)",
                        (r.workspace_id, r.user_id, r.status, r.started_at, r.runtime_seconds, r.credits_consumed))
    conn.commit()


def change(conn, changes: list[tuple]) -> None:
    """Late updates, deletes and inserts, each its own statement (and transaction)."""
    for c in changes:
        ids = [r[0] for r in fetch(conn, "SELECT id FROM public.agent_runs ORDER BY id")]
        if c[0] == "insert":
            insert(conn, [c[1]])
            continue
        if not ids:
            continue
        target = ids[c[1] % len(ids)]
        with conn.cursor() as cur:
            if c[0] == "update":
                cur.execute(f"UPDATE public.agent_runs SET {c[2]} = %s::{CASTS[c[2]]} WHERE id = %s", (c[3], target))
            elif c[0] == "delete":
                cur.execute("DELETE FROM public.agent_runs WHERE id = %s", (target,))
            else:
                cur.execute("INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at, runtime_seconds, "
                            "credits_consumed) SELECT workspace_id, user_id, status, started_at, runtime_seconds, "
                            "credits_consumed FROM public.agent_runs WHERE id = %s", (target,))
        conn.commit()


def raw_rows(conn) -> list[tuple]:
    """The raw rows for the oracle. Start times outside what Python can hold (±infinity, BC,
    past 9999) are clamped to instants just as far outside the supported range."""
    return fetch(conn, "SELECT workspace_id::text, user_id::text, status, "
                       "least(greatest(started_at, '1900-01-01 00:00+00'), '2200-01-01 00:00+00'), "
                       "runtime_seconds, credits_consumed FROM public.agent_runs")


# ------------------------------------------------------------------------------ checks
def assert_succeeded(conn, dr) -> None:
    assert dr.state == "success", dr.run_id
    ((status, error),) = fetch(conn, "SELECT status, error FROM ops.job_runs WHERE dag_id = %s AND run_id = %s",
                               (dr.dag_id, dr.run_id))
    assert (status, error) == ("success", None)


def assert_hours_exact(conn, rows: list[tuple], through: datetime) -> None:
    """Every supported hour up to ``through`` (inclusive) exact; its rejected rows counted."""
    got: dict[datetime, dict] = defaultdict(dict)
    for r in fetch(conn, "SELECT hour, workspace_id::text, total_executions, successful_executions, "
                         "failed_executions, avg_runtime, p95_runtime, total_credits "
                         "FROM analytics.execution_metrics_hourly WHERE hour <= %s", (through,)):
        got[r[0]][r[1]] = dict(zip(COLUMNS, r[2:], strict=True))
    users = defaultdict(dict)
    for h, ws, n in fetch(conn, "SELECT hour, workspace_id::text, active_users FROM analytics.workspace_activity_hourly "
                                "WHERE hour <= %s", (through,)):
        users[h][ws] = n
    hours = {hour_of(r[3]) for r in rows if STARTED_AT_FROM <= r[3] and hour_of(r[3]) <= through} | set(got)
    for h in sorted(hours):
        expected = metrics(rows, h, h + HOUR)
        assert set(got.get(h, {})) == set(expected), h
        assert users.get(h, {}) == {ws: e["active_users"] for ws, e in expected.items()}, h
        for ws, e in expected.items():
            row = got[h][ws]
            for col in ("total_executions", "successful_executions", "failed_executions", "total_credits"):
                assert row[col] == e[col], (h, ws, col, row[col], e[col])
            for col in ("avg_runtime", "p95_runtime"):
                if e[col] is None:
                    assert row[col] is None, (h, ws, col)
                else:
                    assert math.isclose(row[col], e[col], rel_tol=1e-9, abs_tol=1e-300), (h, ws, col, row[col], e[col])
    counted = {(h, ws, reason): n for h, ws, reason, n in fetch(
        conn, "SELECT hour, workspace_id::text, reason, row_count FROM ops.rejected_runs_hourly WHERE hour <= %s",
        (through,))}
    assert counted == rejected(rows, STARTED_AT_FROM, through + HOUR)
    outside = dict(fetch(conn, "SELECT workspace_id::text, row_count FROM ops.rejected_runs_out_of_range "
                               "WHERE reason = 'invalid_started_at'"))
    assert outside == out_of_range(rows)


def assert_nothing_infinite(conn) -> None:
    """No infinity or NaN in any column of any rollup table (and no unsupported period)."""
    cols = fetch(conn, "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE (table_schema = 'analytics' OR (table_schema, table_name) = ('ops', 'rejected_runs_hourly')) "
                       "AND data_type IN ('double precision', 'numeric', 'timestamp with time zone', 'date') "
                       "AND table_name IN (SELECT table_name FROM information_schema.tables "
                       "                   WHERE table_type = 'BASE TABLE')")
    assert len(cols) > 20
    for schema, table, column, kind in cols:
        bad = "('Infinity', '-Infinity', 'NaN')" if kind in ("double precision", "numeric") \
            else "('infinity', '-infinity')"
        ((n,),) = fetch(conn, f'SELECT count(*) FROM {schema}.{table} WHERE "{column}" IN {bad}')
        assert n == 0, (table, column)


def assert_days_exact(conn, rows: list[tuple], last: date) -> None:
    days = {r[3].date() for r in rows if STARTED_AT_FROM <= r[3] and r[3].date() <= last}
    days |= {d for (d,) in fetch(conn, "SELECT DISTINCT day FROM analytics.execution_metrics_daily")}
    for d in sorted(days):
        assert_matches(conn, daily_metrics(rows, d), "execution_metrics_daily", "day", d, "workspace_activity_daily")


# -------------------------------------------------------------------------------- test
@PROFILE
@given(first=st.lists(ROWS, min_size=1, max_size=14), later=st.lists(CHANGES, max_size=8))
def test_any_accepted_value_never_stops_a_run(wh, dagbag, first, later):
    reset(wh)
    insert(wh, first)
    note(f"raw after insert: {str(raw_rows(wh))[:3000]}")
    # The first hour as the hourly DAG's two tasks run it (its own hour, then the repair of
    # every earlier changed hour); the later runs are real DAG runs (a DAG run costs 1 to 5 s).
    hourly.rollup_hour(wh, H0)
    hourly.repair(wh, before=H0)
    rows = raw_rows(wh)
    assert_hours_exact(wh, rows, H0)
    assert_nothing_infinite(wh)

    change(wh, later)
    note(f"raw after changes: {str(raw_rows(wh))[:3000]}")
    dr = run_dag(dagbag, "hourly_rollup", HOURLY_RUN)
    assert_succeeded(wh, dr)
    rows = raw_rows(wh)
    assert_hours_exact(wh, rows, H0 + HOUR)
    assert_nothing_infinite(wh)

    dr = run_dag(dagbag, "daily_rollup", DAILY_RUN)
    assert_succeeded(wh, dr)
    last_hour = datetime(DAY.year, DAY.month, DAY.day, 23, tzinfo=UTC)
    assert_hours_exact(wh, rows, last_hour)
    assert_days_exact(wh, rows, DAY)
    assert_nothing_infinite(wh)


# ------------------------------------------------------------ sums of extreme values
N = 3000  # runs of one workspace-hour at the ceilings (and another's at the floors)


def test_sums_at_the_ceilings_stay_finite_at_every_grain(wh):
    """Many runs at the largest accepted runtime and credits (and others at the smallest),
    beside the smallest rejected values (two 1e308 s runtimes in the same workspace-hour, as
    seen): hours, days, the week, the health scores and the dashboard views are computed,
    exact, and finite. The week is the last full one, so the 30- and 7-day views see it."""
    from agent_warehouse.rollups import health, periods, views

    reset(wh)
    today = datetime.now(UTC).date()
    week = today - timedelta(days=today.weekday() + 7)
    hours = [datetime(week.year, week.month, week.day, 10, tzinfo=UTC) + timedelta(days=d) for d in (0, 3, 6)]
    big, small = str(uuid.uuid4()), str(uuid.uuid4())
    rejected_values = [("1e308", "1"), ("1e308", "1"), (repr(math.nextafter(1e9, math.inf)), "1"),
                       ("5e-324", "1"), ("1", "1000000000000000.000000001"), ("1", "9.99e-10"), ("1", "1e131071")]
    with wh.cursor() as cur:
        for h in hours:
            for ws, status, runtime, credits in ((big, "completed", "1e9", "1e15"), (small, "failed", "1e-6", "1e-9")):
                cur.execute("INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at, runtime_seconds, "
                            "credits_consumed) SELECT %s, NULL, %s, %s + i * interval '1 ms', %s::float8, %s::numeric "
                            "FROM generate_series(1, %s) i", (ws, status, h, runtime, credits, N))
            for runtime, credits in rejected_values:
                cur.execute("INSERT INTO public.agent_runs (workspace_id, status, started_at, runtime_seconds, "
                            "credits_consumed) VALUES (%s, 'completed', %s, %s::float8, %s::numeric)",
                            (big, h, runtime, credits))
    wh.commit()

    for h in hours:
        hourly.rollup_hour(wh, h)
    periods.weekly(wh, week)
    for d in range(7):
        health.health_day(wh, week + timedelta(days=d))
    views.refresh(wh)

    rows = raw_rows(wh)
    assert_hours_exact(wh, rows, hours[-1])
    for h in hours:
        got = dict(fetch(wh, "SELECT reason, row_count FROM ops.rejected_runs_hourly WHERE hour = %s "
                             "AND workspace_id = %s", (h, big)))
        assert got == {"invalid_runtime": 4, "invalid_credits": 3}
    assert_days_exact(wh, rows, week + timedelta(days=6))
    ((credits, runs, avg, p95),) = fetch(wh, "SELECT total_credits, total_executions, avg_runtime, p95_runtime "
                                             "FROM analytics.execution_metrics_weekly WHERE workspace_id = %s", (big,))
    assert (credits, runs) == (Decimal(3 * N) * Decimal("1e15"), 3 * N)
    assert avg == 1e9 and math.isclose(p95, 1e9, rel_tol=0.01)
    ((credits, avg),) = fetch(wh, "SELECT total_credits, avg_runtime FROM analytics.workspace_summary_30d "
                                  "WHERE workspace_id = %s", (small,))
    assert credits == Decimal(3 * N) * Decimal("1e-9") and math.isclose(avg, 1e-6, rel_tol=1e-9)
    assert fetch(wh, "SELECT count(*) FROM analytics.workspace_health_daily WHERE workspace_id IN (%s, %s)",
                 (big, small)) == [(6,)]
    assert_nothing_infinite(wh)
