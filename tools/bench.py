"""``make bench``: each operation of the project against a naive baseline, same data, same run.

Loads synthetic runs into a dedicated ``bench`` database on the embedded PostgreSQL (or
``BENCH_DSN``), times each pair, prints a table and writes ``bench/results.json``.
Sizes: ``BENCH_ROWS_PER_HOUR`` (1,000,000), ``BENCH_HOURS`` (24), ``BENCH_WORKSPACES`` (1000),
``BENCH_HISTORY_DAYS`` (29 extra days for history_growth) at ``BENCH_HISTORY_ROWS_PER_HOUR``
(rows_per_hour / 50: the long history is scaled down to fit the disk and the time),
``BENCH_SCALE`` (runs per hour of the scale curve: 100000,1000000,4000000),
``BENCH_MV_DAYS`` (90) of rollup rows for the views, ``BENCH_BACKFILL_RUNS`` (24) hourly runs
through a real scheduler at ``BENCH_BACKFILL_ROWS_PER_HOUR`` (200,000; 0 runs skips it).
Every pair is timed side by side in this one run, on the same data; the hourly pairs start
each timed run from an empty hour (a first computation on both sides), best of 3.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tabulate import tabulate

from agent_warehouse.db import connect, migrations, run_script, statements, transaction
from agent_warehouse.rollups import hourly, periods
from tools import PROJECT_ROOT, TOOLS_SQL, devdb
from tools.synthetic import HOUR, generate_hours

DAY0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: the benchmark week starts here
ROWS = int(os.environ.get("BENCH_ROWS_PER_HOUR", "1000000"))
HOURS = int(os.environ.get("BENCH_HOURS", "24"))
WORKSPACES = int(os.environ.get("BENCH_WORKSPACES", "1000"))
HISTORY_DAYS = int(os.environ.get("BENCH_HISTORY_DAYS", "29"))
HISTORY_ROWS = int(os.environ.get("BENCH_HISTORY_ROWS_PER_HOUR", str(max(ROWS // 50, 1))))
SCALE = [int(x) for x in os.environ.get("BENCH_SCALE", "100000,1000000,4000000").split(",") if x]
MV_DAYS = int(os.environ.get("BENCH_MV_DAYS", "90"))
BACKFILL_RUNS = int(os.environ.get("BENCH_BACKFILL_RUNS", "24"))
BACKFILL_ROWS = int(os.environ.get("BENCH_BACKFILL_ROWS_PER_HOUR", "200000"))
REPEAT = 3
BACKFILL_DAY = DAY0 + timedelta(days=42)  # a Monday, clear of every other day the benchmark loads
RESULTS = PROJECT_ROOT / "bench" / "results.json"
SESSION = "SET work_mem = '128MB'"  # both sides get the memory the project's SQL asks for


def timed(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def best_of(n: int, fn: Callable[[], Any]) -> float:
    return min(timed(fn) for _ in range(n))


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()} {os.cpu_count()} cores {mem:.0f} GiB, {platform.system()} {platform.release()}"


def bench_dsn() -> str:
    if os.environ.get("BENCH_DSN"):
        return os.environ["BENCH_DSN"]
    devdb.server()
    devdb.drop_database("bench")
    devdb.ensure_database("bench")
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = devdb.connection_uri("bench")
    return f"host={devdb.socket_dir()} user=postgres dbname=bench"


def step_profile(conn: Any, start: datetime) -> list[tuple[str, float]]:
    """rollup_hour.sql statement by statement in one transaction (rolled back): where the time goes."""
    params = {"start": start, "end": start + HOUR}
    out = []
    with conn.cursor() as cur:
        for statement in statements("hourly/rollup_hour.sql"):
            began = time.perf_counter()
            cur.execute(statement, params)
            out.append((" ".join(statement.split())[:70], time.perf_counter() - began))
    conn.rollback()
    return out


def clear_hour(conn: Any, start: datetime) -> None:
    run_script(conn, TOOLS_SQL / "bench/clear_hour.sql", {"start": start})


def first_run(conn: Any, start: datetime, fn: Callable[[], Any]) -> float:
    """Best of REPEAT timings of fn, each on an hour emptied first (untimed)."""
    spent = []
    for _ in range(REPEAT):
        clear_hour(conn, start)
        spent.append(timed(fn))
    return min(spent)


def naive_hour(conn: Any, start: datetime) -> None:
    """The naive job for the step's outputs: the seed's statement, per-user activity, per-workspace credits."""
    run_script(conn, TOOLS_SQL / "bench/naive_hourly.sql", {"start": start, "end": start + HOUR})


def seed_statement(conn: Any, start: datetime) -> None:
    """The seed's single hourly statement (the first of naive_hourly.sql)."""
    first = _naive_statements()[0]
    with transaction(conn) as cur:
        cur.execute(first, {"start": start, "end": start + HOUR})


def _naive_statements() -> list[str]:
    import sqlparse

    text = (TOOLS_SQL / "bench/naive_hourly.sql").read_text()
    return [x for x in sqlparse.split(sqlparse.format(text, strip_comments=True)) if x.strip()]


def pair(project: float, naive: float) -> dict[str, float]:
    return {"project_s": project, "naive_s": naive, "ratio": project / naive}


def naive_period(conn: Any, start: datetime, end: datetime) -> None:
    run_script(conn, TOOLS_SQL / "bench/naive_period.sql", {"start": start, "end": end})


def period_pairs(conn: Any, pairs: dict[str, Any], start: datetime) -> dict[str, dict[str, float]]:
    """daily and weekly for the day and week starting ``start`` (a Monday), each against exact
    recomputation from raw rows; every hour of the day is already rolled up."""
    week_end = start + timedelta(days=7)
    # In production the daily runs have made every day of the week current before the weekly
    # run; here the other six days have no data, so make them current untimed first.
    periods.bring_days_up_to_date(conn, (start + timedelta(days=1)).date(), week_end.date())
    for week in periods.stale_periods(conn, "week", start.date(), start.date()):
        periods.rollup_week(conn, week)  # earlier weeks other pairs left stale: not this pair's work
    out = {}
    for name, end in (("daily", start + timedelta(days=1)), ("weekly", week_end)):
        naive = timed(lambda e=end: naive_period(conn, start, e))
        project = timed(lambda f=pairs[name]: f(conn, start))
        out[name] = pair(project, naive)
    return out


def execute(conn: Any, statement: str, params: Any = None) -> list[tuple]:
    with transaction(conn) as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


def project_pairs() -> dict[str, Callable[..., Any] | None]:
    """The project's implementation of each benchmarked operation: what its DAG tasks call."""
    from agent_warehouse.retention import cleanup as retention
    from agent_warehouse.rollups import views

    def cleanup(conn: Any, oldest_day: date) -> None:
        keep_from = oldest_day + timedelta(days=1)
        retention.make_current(conn, keep_from)  # the check that every hour and day is current
        retention.drop_expired_raw(conn, keep_from)

    return {
        "daily": lambda conn, start: periods.daily(conn, start.date()),
        "weekly": lambda conn, start: periods.weekly(conn, start.date()),
        "cleanup": cleanup,
        "mv_refresh": lambda conn: views.refresh(conn),
    }


def analyze(conn: Any) -> None:
    """After a load: statistics current, and the load's dirty pages written out (a
    checkpoint), so no timed pair shares the disk with writing back what the load left."""
    execute(conn, "TRUNCATE ops.agent_runs_invalidations")
    conn.autocommit = True
    execute(conn, "VACUUM ANALYZE public.agent_runs")
    try:
        execute(conn, "CHECKPOINT")
    except Exception as exc:  # BENCH_DSN without the right to: timings may be noisier
        print(f"no checkpoint after the load: {exc}")
    conn.autocommit = False


def main() -> None:
    dsn = bench_dsn()
    conn = connect(dsn)
    migrations.migrate(conn)
    run_script(conn, TOOLS_SQL / "bench/naive_schema.sql", {})
    execute(conn, SESSION)
    conn.commit()
    results: dict[str, Any] = {"rows_per_hour": ROWS, "hours": HOURS, "workspaces": WORKSPACES,
                               "machine": machine(), "date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "notes": {}}
    print(f"benchmark on {results['machine']}: {ROWS:,} rows/hour x {HOURS} hours, {WORKSPACES} workspaces")

    generate_hours(conn, DAY0, HOURS, ROWS, WORKSPACES, label="loading runs")
    analyze(conn)
    pairs = project_pairs()
    mid = DAY0 + (HOURS // 2) * HOUR

    # hourly: the whole step against the naive job for the same outputs, and against the
    # seed's one statement; the floor is a bare scan of the hour
    project = first_run(conn, mid, lambda: hourly.rollup_hour(conn, mid))
    naive = first_run(conn, mid, lambda: naive_hour(conn, mid))
    seed = first_run(conn, mid, lambda: seed_statement(conn, mid))
    floor = best_of(REPEAT, lambda: run_script(conn, TOOLS_SQL / "bench/bare_scan.sql",
                                               {"start": mid, "end": mid + HOUR}))
    results["hourly"] = {**pair(project, naive), "floor_s": floor, "over_floor": project / floor}
    results["hourly_vs_seed_statement"] = pair(project, seed)
    clear_hour(conn, mid)
    results["notes"]["hourly"] = (
        "project = rollup_hour.sql, everything the DAG writes for its hour; naive = the seed's "
        "statement + a per-(workspace, user) activity GROUP BY + a per-workspace credits GROUP BY, "
        "each upserted; both from an empty hour, best of 3; floor_s = a bare scan of the hour")
    results["notes"]["hourly_profile"] = [[name, round(sec, 4)] for name, sec in step_profile(conn, mid)]

    began = time.perf_counter()
    for i in range(HOURS):
        hourly.rollup_hour(conn, DAY0 + i * HOUR)
    results["hourly_all_s"] = time.perf_counter() - began

    results.update(period_pairs(conn, pairs, DAY0))
    results["notes"]["daily"] = "project = periods.daily (the daily_rollup task: hours current, then the day from partials)"

    # late_repair: 1% late rows into 2 hours, some status changes and deletions there
    late_hours = [DAY0 + 3 * HOUR, DAY0 + min(17, HOURS - 1) * HOUR]
    for h in late_hours:
        generate_hours(conn, h, 1, max(ROWS // 100, 1), WORKSPACES, seed=0.77, label=f"late rows {h:%H}:00")
        run_script(conn, TOOLS_SQL / "bench/late_changes.sql", {"start": h, "end": h + HOUR})
    next_hour = DAY0 + HOURS * HOUR

    def project_next_run() -> None:
        hourly.rollup_hour(conn, next_hour)
        hourly.repair(conn, before=next_hour)

    project = timed(project_next_run)
    naive = timed(lambda: [naive_hour(conn, DAY0 + i * HOUR) for i in range(HOURS)])
    results["late_repair"] = pair(project, naive)
    results["notes"]["late_repair"] = ("project = next hourly run (its own hour + repair of the 2 logged "
                                       "hours); naive = the naive job for all hours")

    results["scale"] = scale(conn)

    # history_growth: the same hourly step with 1 day and with 1 + HISTORY_DAYS days of raw history
    short = first_run(conn, mid, lambda: hourly.rollup_hour(conn, mid))
    if HISTORY_DAYS:
        first = DAY0 - timedelta(days=HISTORY_DAYS)
        generate_hours(conn, first, HISTORY_DAYS * 24, HISTORY_ROWS, WORKSPACES, seed=0.13,
                       label=f"history: {HISTORY_DAYS} days")
        analyze(conn)
    long = first_run(conn, mid, lambda: hourly.rollup_hour(conn, mid))
    hourly.rollup_hour(conn, mid)
    results["history_growth"] = {"short_s": short, "long_s": long, "ratio": long / short,
                                 "history_days": 1 + HISTORY_DAYS, "history_rows_per_hour": HISTORY_ROWS}

    # cleanup: the benchmark's own day (ROWS runs an hour, rolled up as production would have
    # it), once the history before it has expired (untimed). The naive DELETE runs inside a
    # transaction that is rolled back, then the project drops the same day.
    if HISTORY_DAYS:
        pairs["cleanup"](conn, DAY0.date() - timedelta(days=1))
    oldest = DAY0
    periods.bring_days_up_to_date(conn, oldest.date(), oldest.date() + timedelta(days=1))

    def naive_delete() -> None:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM public.agent_runs WHERE started_at >= %s AND started_at < %s",
                        (oldest, oldest + timedelta(days=1)))
        conn.rollback()

    naive = timed(naive_delete)
    project = timed(lambda: pairs["cleanup"](conn, oldest.date()))
    results["cleanup"] = {**pair(project, naive), "day": oldest.date().isoformat(), "rows": ROWS * HOURS}
    results["notes"]["cleanup"] = ("project = what the cleanup DAG's tasks call (make every hour and day "
                                   "current, then drop the partition); naive = DELETE of the day")

    results["mv_refresh"] = mv_refresh(conn, pairs["mv_refresh"])
    conn.close()
    try:  # the services can fail to start; keep every other figure of the run
        results["backfill_scheduler"] = backfill_scheduler(dsn)
    except Exception as exc:
        results["backfill_scheduler"] = {"runs": 0, "seconds": None, "sql_seconds": None, "error": repr(exc)}
        print(f"backfill_scheduler failed: {exc!r}")
    if results["backfill_scheduler"].get("runs") == 24:
        # The backfill's day (BACKFILL_ROWS runs/hour, rolled up by the scheduler's runs):
        # daily and weekly at that size too.
        conn = connect(dsn)
        execute(conn, SESSION)
        conn.commit()
        for name, value in period_pairs(conn, pairs, BACKFILL_DAY).items():
            results[f"{name}_{BACKFILL_ROWS // 1000}k"] = value
        conn.close()
    results["peak_rss_mb"] = max(peak_rss_mb(), results["backfill_scheduler"].get("peak_task_rss_mb") or 0)
    report(results)


def scale(conn: Any) -> dict[str, Any]:
    """The whole hourly step on one hour of each size in SCALE (each its own day), from empty."""
    out: dict[str, Any] = {"rows_per_hour": [], "seconds": [], "seconds_per_million": []}
    for i, rows in enumerate(SCALE):
        hour = DAY0 + timedelta(days=14 + i, hours=12)
        generate_hours(conn, hour, 1, rows, WORKSPACES, seed=0.31, label=f"scale: {rows:,} rows")
        analyze(conn)
        seconds = first_run(conn, hour, lambda h=hour: hourly.rollup_hour(conn, h))
        out["rows_per_hour"].append(rows)
        out["seconds"].append(seconds)
        out["seconds_per_million"].append(seconds / rows * 1e6)
        with transaction(conn) as cur:  # the day goes again: later pairs should not read it
            cur.execute("DELETE FROM public.agent_runs WHERE started_at >= %s AND started_at < %s",
                        (hour, hour + HOUR))
        clear_hour(conn, hour)
    spm = out["seconds_per_million"]
    out["spread"] = max(spm) / min(spm) if spm else None
    return out


def mv_refresh(conn: Any, refresh: Callable[[Any], Any]) -> dict[str, Any]:
    """The dashboard views refreshed over rollup rows inside their windows (the last MV_DAYS days),
    with the daily rollups of those days done, as the daily DAG leaves them."""
    run_script(conn, TOOLS_SQL / "bench/mv_rollups.sql", {"workspaces": WORKSPACES, "days": MV_DAYS, "users": 5})
    # As in production, the daily runs have rolled up every whole day before today (untimed).
    today = datetime.now(UTC).date()
    for n in range(1, 32):
        periods.rollup_day(conn, today - timedelta(days=n))
    conn.autocommit = True
    execute(conn, "ANALYZE analytics.execution_metrics_hourly, analytics.runtime_sketch_hourly, "
                  "analytics.user_activity_hourly")
    conn.autocommit = False
    refresh(conn)  # the first refresh fills the views; the timed one is the steady state
    seconds = best_of(2, lambda: refresh(conn))
    rows = execute(conn, "SELECT (SELECT count(*) FROM analytics.workspace_summary_30d) "
                         "+ (SELECT count(*) FROM analytics.workspace_leaderboard_7d)")[0][0]
    return {"project_s": seconds, "days": MV_DAYS, "workspaces": WORKSPACES, "rows": rows}


def peak_rss_mb() -> float:
    """Largest resident set of this process (it runs the in-process tasks) or a waited-for child."""
    import resource

    kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return kib / 1024


def backfill_scheduler(dsn: str) -> dict[str, Any]:
    """BACKFILL_RUNS hourly_rollup runs through a real scheduler (api-server, scheduler and
    dag-processor, as `make up` starts them) on BACKFILL_ROWS runs per hour."""
    if not BACKFILL_RUNS:
        return {"runs": 0, "seconds": None, "sql_seconds": None}
    from tools import bench_backfill

    return bench_backfill.run(dsn, BACKFILL_DAY, BACKFILL_RUNS, BACKFILL_ROWS, WORKSPACES)


GOALS = {"hourly": 1.0, "hourly_vs_seed_statement": None, "daily": 0.1, "weekly": 0.05,
         "late_repair": 0.12, "cleanup": 0.05}


def report(results: dict[str, Any]) -> None:
    rows = []
    for name, goal in GOALS.items():
        p, n, ratio = (results[name][k] for k in ("project_s", "naive_s", "ratio"))
        met = "" if goal is None else ("yes" if ratio <= goal else "NO")
        rows.append([name, _s(p), _s(n), f"{ratio:.3f}", f"<= {goal}" if goal else "", met])
    hg = results["history_growth"]
    rows.append(["history_growth", _s(hg["long_s"]), _s(hg["short_s"]), f"{hg['ratio']:.3f}", "<= 1.1",
                 "yes" if hg["ratio"] <= 1.1 else "NO"])
    mv = results["mv_refresh"]
    rows.append([f"mv_refresh ({mv['rows']} rows, {mv['days']} d)", _s(mv["project_s"]), "", "", "< 2 s",
                 "yes" if mv["project_s"] < 2 else "NO"])
    sc = results["scale"]
    for r, sec, spm in zip(sc["rows_per_hour"], sc["seconds"], sc["seconds_per_million"], strict=True):
        rows.append([f"scale {r:,}/h", _s(sec), "", f"{spm:.3f} s/M", "", ""])
    if sc["spread"] is not None:
        rows.append(["scale spread", "", "", f"{sc['spread']:.3f}", "<= 1.3", "yes" if sc["spread"] <= 1.3 else "NO"])
    bf = results["backfill_scheduler"]
    if bf.get("runs"):
        rows.append([f"backfill_scheduler ({bf['runs']} runs)", _s(bf["seconds"]), _s(bf["sql_seconds"]),
                     "", "<= 120 s", "yes" if bf["seconds"] <= 120 else "NO"])
    for key in sorted(k for k in results if k.startswith(("daily_", "weekly_"))):
        goal = GOALS[key.split("_")[0]]
        p, n, ratio = (results[key][k] for k in ("project_s", "naive_s", "ratio"))
        rows.append([key, _s(p), _s(n), f"{ratio:.3f}", f"<= {goal}", "yes" if ratio <= goal else "NO"])
    rows.append(["peak_rss_mb", f"{results['peak_rss_mb']:.0f}", "", "", "", ""])
    print()
    print(tabulate(rows, headers=["operation", "project s", "naive s", "ratio", "goal", "met"]))
    print(f"\nhourly floor (bare scan of the hour): {results['hourly']['floor_s']:.3f} s; "
          f"the step is {results['hourly']['over_floor']:.1f}x it")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(PROJECT_ROOT)}")


def _s(x: float | None) -> str:
    return f"{x:.3f}" if x is not None else "n/a"


if __name__ == "__main__":
    main()
