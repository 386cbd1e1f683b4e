"""``make bench``: each operation of the project against a naive baseline, same data, same run.

Loads synthetic runs into a dedicated ``bench`` database on the embedded PostgreSQL (or
``BENCH_DSN``), times each pair, prints a table and writes ``bench/results.json``.
Sizes: ``BENCH_ROWS_PER_HOUR`` (1,000,000), ``BENCH_HOURS`` (24), ``BENCH_WORKSPACES`` (1000),
``BENCH_HISTORY_DAYS`` (29 extra days for history_growth) at ``BENCH_HISTORY_ROWS_PER_HOUR``
(rows_per_hour / 50: the long history is scaled down to fit the disk and the time).
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
BACKFILL_HOURS = int(os.environ.get("BENCH_BACKFILL_HOURS", "3"))
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


def metrics_step_seconds(conn: Any, start: datetime) -> tuple[float, float]:
    """rollup_hour.sql statement by statement in one transaction: (metrics step, whole file)."""
    params = {"start": start, "end": start + HOUR}
    script = statements("hourly/rollup_hour.sql")
    # everything up to the statement writing the sketch partials: lock, log, metrics, partials
    upto = next(i for i, s in enumerate(script) if "INSERT INTO analytics.runtime_sketch_hourly" in s) + 1
    spent = []
    with transaction(conn) as cur:
        for statement in script:
            began = time.perf_counter()
            cur.execute(statement, params)
            spent.append(time.perf_counter() - began)
    return sum(spent[:upto]), sum(spent)


def naive_hour(conn: Any, start: datetime) -> None:
    run_script(conn, TOOLS_SQL / "bench/naive_hourly.sql", {"start": start, "end": start + HOUR})


def naive_period(conn: Any, start: datetime, end: datetime) -> None:
    run_script(conn, TOOLS_SQL / "bench/naive_period.sql", {"start": start, "end": end})


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


def main() -> None:
    dsn = bench_dsn()
    conn = connect(dsn)
    migrations.migrate(conn)
    run_script(conn, TOOLS_SQL / "bench/naive_schema.sql", {})
    execute(conn, SESSION)
    conn.commit()
    results: dict[str, Any] = {"rows_per_hour": ROWS, "hours": HOURS, "workspaces": WORKSPACES,
                               "machine": machine(), "notes": {}}
    print(f"benchmark on {results['machine']}: {ROWS:,} rows/hour x {HOURS} hours, {WORKSPACES} workspaces")

    generate_hours(conn, DAY0, HOURS, ROWS, WORKSPACES, label="loading runs")
    execute(conn, "TRUNCATE ops.agent_runs_invalidations")
    conn.autocommit = True
    execute(conn, "VACUUM ANALYZE public.agent_runs")
    conn.autocommit = False
    pairs = project_pairs()
    mid = DAY0 + (HOURS // 2) * HOUR

    # hourly: one hour, the project's execution-metrics step with its partials against the
    # seed's single statement; the whole hourly step (all tables) is reported beside it
    naive = best_of(2, lambda: naive_hour(conn, mid))
    steps = [metrics_step_seconds(conn, mid) for _ in range(2)]
    results["hourly"] = {"project_s": min(m for m, _ in steps), "naive_s": naive,
                         "whole_step_s": min(w for _, w in steps)}
    results["notes"]["hourly"] = ("project_s = the execution-metrics and sketch-partials statements of "
                                  "rollup_hour.sql (lock and log consumption included); whole_step_s = "
                                  "the whole file (user and workspace activity, rejected rows too); "
                                  "best of 2 each")

    began = time.perf_counter()
    for i in range(HOURS):
        hourly.rollup_hour(conn, DAY0 + i * HOUR)
    results["hourly_all_s"] = time.perf_counter() - began

    day_end = DAY0 + timedelta(days=1)
    week_end = DAY0 + timedelta(days=7)
    # In production the daily runs have made every day of the week current before the weekly
    # run; here the other six days have no data, so make them current untimed first.
    periods.bring_days_up_to_date(conn, (DAY0 + timedelta(days=1)).date(), week_end.date())
    for name, start, end in (("daily", DAY0, day_end), ("weekly", DAY0, week_end)):
        naive = timed(lambda s=start, e=end: naive_period(conn, s, e))
        project = timed(lambda f=pairs[name], s=start: f(conn, s))
        results[name] = {"project_s": project, "naive_s": naive}
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
    results["late_repair"] = {"project_s": project, "naive_s": naive}
    results["notes"]["late_repair"] = "project = next hourly run (its own hour + repair of logged hours); naive = recompute all hours"

    results["mv_refresh_s"] = timed(lambda: pairs["mv_refresh"](conn))

    results["backfill"] = backfill(dsn)

    # history_growth: the same hourly step with 1 day and with 1 + HISTORY_DAYS days of raw history
    short = best_of(2, lambda: hourly.rollup_hour(conn, mid))
    if HISTORY_DAYS:
        first = DAY0 - timedelta(days=HISTORY_DAYS)
        generate_hours(conn, first, HISTORY_DAYS * 24, HISTORY_ROWS, WORKSPACES, seed=0.13,
                       label=f"history: {HISTORY_DAYS} days")
        execute(conn, "TRUNCATE ops.agent_runs_invalidations")
        conn.autocommit = True
        execute(conn, "ANALYZE public.agent_runs")
        conn.autocommit = False
    long = best_of(2, lambda: hourly.rollup_hour(conn, mid))
    results["history_growth"] = {"short_s": short, "long_s": long, "history_days": 1 + HISTORY_DAYS,
                                 "history_rows_per_hour": HISTORY_ROWS}

    # cleanup: the oldest day (rolled up first, as production would have it). The naive DELETE
    # runs inside a transaction that is rolled back, then the project drops the same day.
    oldest = (DAY0 - timedelta(days=HISTORY_DAYS)) if HISTORY_DAYS else DAY0
    periods.bring_days_up_to_date(conn, oldest.date(), oldest.date() + timedelta(days=1))

    def naive_delete() -> None:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM public.agent_runs WHERE started_at >= %s AND started_at < %s",
                        (oldest, oldest + timedelta(days=1)))
        conn.rollback()

    naive = timed(naive_delete)
    project = timed(lambda: pairs["cleanup"](conn, oldest.date()))
    results["cleanup"] = {"project_s": project, "naive_s": naive,
                          "day": oldest.date().isoformat(),
                          "rows": HISTORY_ROWS * 24 if HISTORY_DAYS else ROWS * HOURS}
    results["notes"]["cleanup"] = ("project = make every hour and day current (check) + drop the "
                                   "partition through ops.drop_expired_agent_runs")

    report(results)
    conn.close()


def backfill(dsn: str) -> dict[str, Any]:
    """Hours rolled up through real Airflow runs (dag.test, in process) on the loaded data."""
    if not BACKFILL_HOURS:
        return {"hours": 0, "seconds": None}
    os.environ.setdefault("AGENT_WAREHOUSE_DEADLINES", "off")
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "hourly_rollup.py")).get_dag("hourly_rollup")
    began = time.perf_counter()
    for i in range(BACKFILL_HOURS):
        run_at = DAY0 + (i + 1) * HOUR + timedelta(minutes=5)
        dr = dag.test(logical_date=run_at, run_after=run_at)
        if dr.state != "success":
            raise SystemExit(f"hourly_rollup at {run_at} ended {dr.state}")
    return {"hours": BACKFILL_HOURS, "seconds": time.perf_counter() - began,
            "how": "hourly_rollup dag.test() runs in one process, first run includes Airflow start-up"}


GOALS = {"hourly": 1.2, "daily": 0.1, "weekly": 0.1, "late_repair": 0.15, "cleanup": 0.05}


def report(results: dict[str, Any]) -> None:
    rows = []
    for name, goal in GOALS.items():
        pair = results[name]
        p, n = pair["project_s"], pair["naive_s"]
        ratio = p / n if p is not None and n else None
        pair["ratio"] = ratio
        pair["goal"] = goal
        rows.append([name, _s(p), _s(n), f"{ratio:.3f}" if ratio is not None else "n/a", f"<= {goal}",
                     "yes" if ratio is not None and ratio <= goal else "NO"])
    hg = results["history_growth"]
    hg["ratio"] = hg["long_s"] / hg["short_s"]
    rows.append(["history_growth", _s(hg["long_s"]), _s(hg["short_s"]), f"{hg['ratio']:.3f}", "<= 1.3",
                 "yes" if hg["ratio"] <= 1.3 else "NO"])
    mv = results["mv_refresh_s"]
    rows.append(["mv_refresh", _s(mv), "", "", "< 5 s", "yes" if mv is not None and mv < 5 else "NO"])
    bf = results["backfill"]
    rows.append([f"backfill ({bf['hours']} h)", _s(bf["seconds"]), "", "", "", ""])
    print()
    print(tabulate(rows, headers=["operation", "project s", "naive s", "ratio", "goal", "met"]))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(PROJECT_ROOT)}")


def _s(x: float | None) -> str:
    return f"{x:.3f}" if x is not None else "n/a"


if __name__ == "__main__":
    main()
