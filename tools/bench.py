"""``make bench``: each operation of the project against a naive baseline, same data, same run.

Loads synthetic runs into a dedicated ``bench`` database on the embedded PostgreSQL (or
``BENCH_DSN``), times each pair, prints a table and writes ``bench/results.json``.
Sizes: ``BENCH_ROWS_PER_HOUR`` (1,000,000) for ``BENCH_HOURS`` (24) hours and the next hour,
the rest of the benchmark week at ``BENCH_WEEK_ROWS_PER_HOUR`` (rows_per_hour),
``BENCH_WORKSPACES`` (1000), ``BENCH_HISTORY_DAYS`` (29 extra days for history_growth) at
``BENCH_HISTORY_ROWS_PER_HOUR`` (rows_per_hour / 50: the long history is scaled down to fit
the disk and the time), ``BENCH_SCALE`` (runs per hour of the scale curve:
1000,100000,1000000,4000000), ``BENCH_MV_DAYS`` (90) of rollup rows for the views,
``BENCH_BACKFILL_RUNS`` (24) hourly runs through a real scheduler at
``BENCH_BACKFILL_ROWS_PER_HOUR`` (200,000; 0 runs skips the scheduler, the week at that size
is then loaded here), ``BENCH_REPEAT`` (5) timed runs of each side.

Every pair is timed side by side in this one run, on the same data, the two sides alternating
(project, naive, project, naive, ...); each side's figure is the median of its runs, with the
fastest and slowest beside it. After each pair, the values both sides wrote where their
outputs overlap are compared, and the benchmark stops if they differ.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from tabulate import tabulate

from agent_warehouse.db import connect, migrations, run_script, statements, transaction
from agent_warehouse.rollups import hourly, periods
from tools import PROJECT_ROOT, TOOLS_SQL, devdb
from tools.synthetic import HOUR, generate_hours

DAY = timedelta(days=1)
DAY0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: the benchmark week starts here
ROWS = int(os.environ.get("BENCH_ROWS_PER_HOUR", "1000000"))
HOURS = int(os.environ.get("BENCH_HOURS", "24"))
WEEK_ROWS = int(os.environ.get("BENCH_WEEK_ROWS_PER_HOUR", str(ROWS)))
WORKSPACES = int(os.environ.get("BENCH_WORKSPACES", "1000"))
HISTORY_DAYS = int(os.environ.get("BENCH_HISTORY_DAYS", "29"))
HISTORY_ROWS = int(os.environ.get("BENCH_HISTORY_ROWS_PER_HOUR", str(max(ROWS // 50, 1))))
SCALE = [int(x) for x in os.environ.get("BENCH_SCALE", "1000,100000,1000000,4000000").split(",") if x]
MV_DAYS = int(os.environ.get("BENCH_MV_DAYS", "90"))
BACKFILL_RUNS = int(os.environ.get("BENCH_BACKFILL_RUNS", "24"))
BACKFILL_ROWS = int(os.environ.get("BENCH_BACKFILL_ROWS_PER_HOUR", "200000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
CURVE_FROM = 100_000  # the scale curve's marginal costs start here; smaller hours are the fixed cost
SMALL_HOUR = 1_000  # the step on an hour this size (or smaller): the fixed cost users feel
BACKFILL_DAY = DAY0 + timedelta(days=42)  # a Monday, clear of every other day the benchmark loads
RESULTS = PROJECT_ROOT / "bench" / "results.json"
SESSION = "SET work_mem = '128MB'"  # both sides get the memory the project's SQL asks for


class Mismatch(AssertionError):
    """The two sides of a pair wrote different values where their outputs overlap."""


class PgMemory:
    """Samples the memory of the bench server's processes (backends and parallel workers,
    the children of the postmaster) every 0.1 s while a timed step runs: where the hashes of
    ``work_mem`` live, which no figure of this process counts."""

    def __init__(self, pgdata: Path) -> None:
        self.postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        self.active = False
        self.kib = {"hwm": 0, "private": 0, "total_private": 0, "total_pss": 0}
        self.samples = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _children(self) -> list[int]:
        out = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(f"/proc/{entry.name}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.postmaster:
                    out.append(int(entry.name))
        return out

    @staticmethod
    def _fields(path: str, names: tuple[str, ...]) -> dict[str, int]:
        out = {}
        try:
            for line in Path(path).read_text().splitlines():
                key, _, value = line.partition(":")
                if key in names:
                    out[key] = int(value.split()[0])
        except OSError:  # the process ended meanwhile (a parallel worker)
            pass
        return out

    def sample(self) -> None:
        total_private = total_pss = 0
        for pid in self._children():
            hwm = self._fields(f"/proc/{pid}/status", ("VmHWM",)).get("VmHWM", 0)
            smaps = self._fields(f"/proc/{pid}/smaps_rollup", ("Pss", "Private_Clean", "Private_Dirty"))
            private = smaps.get("Private_Clean", 0) + smaps.get("Private_Dirty", 0)
            self.kib["hwm"] = max(self.kib["hwm"], hwm)
            self.kib["private"] = max(self.kib["private"], private)
            total_private += private
            total_pss += smaps.get("Pss", 0)
        self.kib["total_private"] = max(self.kib["total_private"], total_private)
        self.kib["total_pss"] = max(self.kib["total_pss"], total_pss)
        self.samples += 1

    def _loop(self) -> None:
        while True:
            if self.active:
                self.sample()
            time.sleep(0.1)

    def results(self) -> dict[str, float]:
        return {"pg_peak_rss_mb": self.kib["hwm"] / 1024, "pg_peak_private_mb": self.kib["private"] / 1024,
                "pg_peak_total_private_mb": self.kib["total_private"] / 1024,
                "pg_peak_total_pss_mb": self.kib["total_pss"] / 1024}


PG_MEMORY: PgMemory | None = None


def timed(fn: Callable[[], Any]) -> float:
    if PG_MEMORY is not None:
        PG_MEMORY.active = True
    began = time.perf_counter()
    try:
        fn()
    finally:
        spent = time.perf_counter() - began
        if PG_MEMORY is not None:
            PG_MEMORY.active = False
    return spent


def spread(name: str, times: list[float]) -> dict[str, float]:
    """Median of the runs, with the fastest and the slowest."""
    return {f"{name}_s": statistics.median(times), f"{name}_min_s": min(times), f"{name}_max_s": max(times)}


def pair(project: list[float], naive: list[float]) -> dict[str, Any]:
    """Existing keys (project_s, naive_s, ratio) are now medians; the spread and the ratio of
    each alternating round beside them."""
    rounds = [p / n for p, n in zip(project, naive, strict=True)]
    return {"project_s": statistics.median(project), "naive_s": statistics.median(naive),
            "ratio": statistics.median(project) / statistics.median(naive),
            "project_min_s": min(project), "project_max_s": max(project),
            "naive_min_s": min(naive), "naive_max_s": max(naive),
            "ratio_min": min(rounds), "ratio_max": max(rounds), "runs": len(project)}


def alternate(project: Callable[[], Any], naive: Callable[[], Any],
              before_project: Callable[[], Any] | None = None, before_naive: Callable[[], Any] | None = None,
              check: Callable[[], Any] | None = None, label: str = "") -> dict[str, Any]:
    """REPEAT rounds of project then naive, each after its (untimed) preparation; the check
    of their overlapping outputs after every round."""
    p, n = [], []
    for i in range(REPEAT):
        if before_project:
            before_project()
        p.append(timed(project))
        if before_naive:
            before_naive()
        n.append(timed(naive))
        if check:
            check()
        print(f"{label} round {i + 1}/{REPEAT}: project {p[-1]:.3f} s, naive {n[-1]:.3f} s", flush=True)
    return pair(p, n)


def compare(conn: Any, script: str, params: dict[str, Any], what: str) -> list[tuple[Any, ...]]:
    """Run a compare_*.sql (rows: output, project rows, naive rows, rows that differ, ...);
    stop the benchmark if any output differs."""
    rows = run_script(conn, TOOLS_SQL / f"bench/{script}", params)
    bad = [r for r in rows if r[3] or r[1] != r[2] or not r[1]]
    if bad:
        raise Mismatch(f"{what}: the project and the naive side disagree: {bad}")
    return rows


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()} {os.cpu_count()} cores {mem:.0f} GiB, {platform.system()} {platform.release()}"


def bench_dsn() -> str:
    global PG_MEMORY
    if os.environ.get("BENCH_DSN"):
        return os.environ["BENCH_DSN"]  # a server elsewhere: its processes are not sampled
    devdb.server()
    devdb.drop_database("bench")
    devdb.ensure_database("bench")
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = devdb.connection_uri("bench")
    PG_MEMORY = PgMemory(devdb.PGDATA)
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


def clear_naive(conn: Any, start: datetime, end: datetime) -> None:
    run_script(conn, TOOLS_SQL / "bench/clear_naive_hours.sql", {"start": start, "end": end})


def first_runs(conn: Any, start: datetime, fn: Callable[[], Any]) -> list[float]:
    """REPEAT timings of fn, each on an hour emptied first (untimed)."""
    spent = []
    for _ in range(REPEAT):
        clear_hour(conn, start)
        spent.append(timed(fn))
    return spent


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


def naive_period(conn: Any, start: datetime, end: datetime) -> None:
    run_script(conn, TOOLS_SQL / "bench/naive_period.sql", {"start": start, "end": end})


def period_pairs(conn: Any, pairs: dict[str, Any], start: datetime) -> dict[str, dict[str, Any]]:
    """daily and weekly for the day and week starting ``start`` (a Monday), each against exact
    recomputation from raw rows, alternating; every hour and day of the week (all loaded) is
    rolled up first, untimed, as the hourly and daily runs leave them in production."""
    week_end = start + timedelta(days=7)
    periods.bring_days_up_to_date(conn, start.date(), week_end.date())
    for week in periods.stale_periods(conn, "week", start.date(), start.date()):
        periods.rollup_week(conn, week)  # earlier weeks other pairs left stale: not this pair's work
    out = {}
    for name, end in (("daily", start + DAY), ("weekly", week_end)):
        project: Callable[[Any, datetime], Any] = pairs[name]
        out[name] = alternate(
            partial(project, conn, start), partial(naive_period, conn, start, end),
            before_naive=partial(run_script, conn, TOOLS_SQL / "bench/clear_naive_period.sql", {"start": start}),
            check=partial(compare, conn, f"compare_{name}.sql", {"start": start}, f"{name} {start:%Y-%m-%d}"),
            label=f"{name} {start:%Y-%m-%d}")
        ((_, _, _, _, worst),) = compare(conn, f"compare_{name}.sql", {"start": start}, name)
        out[name]["p95_worst_rel_error"] = float(worst or 0)
    return out


def execute(conn: Any, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with transaction(conn) as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


def project_pairs() -> dict[str, Callable[..., Any]]:
    """The project's implementation of each benchmarked operation: what its DAG tasks call."""
    from agent_warehouse.retention import cleanup as retention
    from agent_warehouse.rollups import views

    def cleanup(conn: Any, oldest_day: date) -> dict[str, Any]:
        # The cleanup DAG's drop_expired task: retention.cleanup for the run whose raw and
        # hourly horizons are the day after ``oldest_day`` (make every hour and day current,
        # drop the raw partition, delete the expired hourly rollups, analyze agent_runs).
        keep_from = oldest_day + DAY
        policy = retention.Retention(raw_days=1, hourly_days=1, job_runs_days=1)
        result: dict[str, Any] = retention.cleanup(conn, keep_from + DAY, policy)
        return result

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


def load_week(conn: Any, start: datetime, rows: int, rest_rows: int, first_hours: int, label: str,
              seed: float = 0.42, skip_hours: int = 0) -> None:
    """The week from ``start``: ``first_hours`` hours at ``rows`` runs, the rest at ``rest_rows``;
    the first ``skip_hours`` hours are already loaded."""
    if first_hours > skip_hours:
        generate_hours(conn, start + skip_hours * HOUR, first_hours - skip_hours, rows, WORKSPACES,
                       seed=seed, label=label)
    rest = 7 * 24 - max(first_hours, skip_hours)
    if rest > 0:
        generate_hours(conn, start + max(first_hours, skip_hours) * HOUR, rest, rest_rows, WORKSPACES,
                       seed=(seed + 0.5) % 1, label=f"{label}: rest of the week")


def main() -> None:
    dsn = bench_dsn()
    conn = connect(dsn)
    migrations.migrate(conn)
    run_script(conn, TOOLS_SQL / "bench/naive_schema.sql", {})
    execute(conn, SESSION)
    conn.commit()
    results: dict[str, Any] = {"rows_per_hour": ROWS, "hours": HOURS, "workspaces": WORKSPACES,
                               "week_rows_per_hour": WEEK_ROWS, "repeat": REPEAT,
                               "machine": machine(), "date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "notes": {}}
    notes = results["notes"]
    print(f"benchmark on {results['machine']}: {ROWS:,} rows/hour x {HOURS + 1} hours, the rest of the "
          f"week at {WEEK_ROWS:,}, {WORKSPACES} workspaces, {REPEAT} runs of each side")
    notes["method"] = (
        f"every pair: {REPEAT} rounds, project then naive, alternating; *_s = the median of a side's "
        "runs, *_min_s/*_max_s its fastest and slowest, ratio = median/median, ratio_min/ratio_max "
        "the lowest and highest ratio of one round; after every round the values both sides wrote "
        "where their outputs overlap are compared (counts, credits, active users exactly; means to "
        "1e-9; hourly p95 to 1e-9, daily and weekly p95 within the contract's 1%), and the benchmark "
        "stops on a difference. Before version 0.2 of this benchmark: best of 3 or a single run, "
        "blocks of one side, no check.")

    # The whole benchmark week: its first HOURS hours and the next one (the late_repair run's
    # own hour) at ROWS runs, the other days at WEEK_ROWS.
    load_week(conn, DAY0, ROWS, WEEK_ROWS, HOURS + 1, "loading runs")
    analyze(conn)
    pairs = project_pairs()
    mid = DAY0 + (HOURS // 2) * HOUR
    hour_params = {"start": mid, "end": mid + HOUR}

    # hourly: the whole step against the naive job for the same outputs, and against the
    # seed's one statement; the floor is a bare scan of the hour. Each round: the hour emptied
    # (both sides), the step, the naive job, checked; the naive side emptied, the seed
    # statement, checked; the bare scan.
    project, naive, seed, floor = [], [], [], []
    for i in range(REPEAT):
        clear_hour(conn, mid)
        project.append(timed(lambda: hourly.rollup_hour(conn, mid)))
        naive.append(timed(lambda: naive_hour(conn, mid)))
        compare(conn, "compare_hourly.sql", hour_params, "hourly")
        clear_naive(conn, mid, mid + HOUR)
        seed.append(timed(lambda: seed_statement(conn, mid)))
        compare(conn, "compare_seed_hourly.sql", hour_params, "hourly_vs_seed_statement")
        floor.append(timed(lambda: run_script(conn, TOOLS_SQL / "bench/bare_scan.sql", hour_params)))
        print(f"hourly round {i + 1}/{REPEAT}: project {project[-1]:.3f} s, naive {naive[-1]:.3f} s, "
              f"seed {seed[-1]:.3f} s, floor {floor[-1]:.3f} s", flush=True)
    results["hourly"] = {**pair(project, naive), **spread("floor", floor)}
    results["hourly"]["over_floor"] = results["hourly"]["project_s"] / results["hourly"]["floor_s"]
    results["hourly_vs_seed_statement"] = pair(project, seed)
    clear_hour(conn, mid)
    notes["hourly"] = (
        "project = rollup_hour.sql, everything the DAG writes for its hour; naive = the seed's "
        "statement + a per-(workspace, user) activity GROUP BY + a per-workspace credits GROUP BY, "
        "each upserted; both from an empty hour; floor_s = a bare scan of the hour (median); checked: "
        "metrics, per-user rows and per-workspace active users and credits of the hour")
    notes["hourly_vs_seed_statement"] = ("the same project runs against the seed's one statement "
                                         "(metrics only, from an empty hour); checked: the metrics")
    notes["hourly_profile"] = [[name, round(sec, 4)] for name, sec in step_profile(conn, mid)]

    began = time.perf_counter()
    for i in range(HOURS):
        hourly.rollup_hour(conn, DAY0 + i * HOUR)
    results["hourly_all_s"] = time.perf_counter() - began

    results["late_repair"] = late_repair(conn)
    notes["late_repair"] = (
        f"each round: 1% late rows, status changes and deletions into 2 hours (untimed); project = the "
        f"next hourly run: its own hour ({ROWS:,} runs, loaded, from empty) + repair of the 2 logged "
        f"hours; naive = the naive job for all {HOURS} hours (its tables emptied first, untimed); "
        f"checked: every output of the {HOURS} hours")

    # The week's other hours and days, as the hourly and daily runs leave them (untimed).
    began = time.perf_counter()
    periods.bring_days_up_to_date(conn, (DAY0 + DAY).date(), (DAY0 + 7 * DAY).date())
    results["week_rollup_untimed_s"] = time.perf_counter() - began
    results.update(period_pairs(conn, pairs, DAY0))
    notes["daily"] = ("project = periods.daily (the daily_rollup task: hours current, then the day from "
                      "partials); naive = exact recomputation of the day from raw rows; checked: the day's "
                      "metrics and active users, p95_worst_rel_error = the largest p95 error seen")
    notes["weekly"] = (f"project = periods.weekly (the weekly_rollup task) on a week with all 7 days loaded "
                       f"({ROWS:,} runs/hour for {HOURS + 1} hours, {WEEK_ROWS:,} after) and rolled up "
                       "(untimed); naive = exact recomputation of the week from raw rows; checked as daily")

    results["scale"] = scale(conn)
    notes["scale"] = (
        "the step on one hour of each size, from empty, median of the runs, its outputs checked against the naive job (untimed); spread = max/min of "
        f"seconds_per_million over the sizes from {CURVE_FROM:,} (as before); marginal_s_per_million = "
        "(t(b) - t(a)) / (b - a) per million between consecutive sizes from "
        f"{CURVE_FROM:,}; marginal_rise = the largest ratio of a marginal cost to the one before it "
        f"(goal <= 1.2: no rise); small_hour_s = the step on a {SMALL_HOUR:,}-run hour (goal <= 0.1 s)")

    results["mv_refresh"] = mv_refresh(conn, pairs["mv_refresh"])
    notes["mv_refresh"] = (
        "both views refreshed over hourly rows the pipeline produced: the rollups of the benchmark "
        f"day's {HOURS} hours ({ROWS:,} runs/hour, every workspace, real sketch buckets and users), "
        "repeated hour by hour over the hours before now (metrics for the days, sketches 31 days, "
        "per-user rows 8 days; each hour's rows written together, as the hourly rollup writes them, "
        "since 4 December 2026), the daily rollups of the 31 days before today done (untimed) and, "
        "since 4 December 2026 (issue 20), the weekly rollups of every whole ISO week before this one "
        "within those days, as the Monday weekly runs leave them (untimed); median of the runs after "
        "a first refresh; no naive side")

    # history_growth: the same hourly step with the week and with HISTORY_DAYS more days of raw history
    short = first_runs(conn, mid, lambda: hourly.rollup_hour(conn, mid))
    if HISTORY_DAYS:
        first = DAY0 - timedelta(days=HISTORY_DAYS)
        generate_hours(conn, first, HISTORY_DAYS * 24, HISTORY_ROWS, WORKSPACES, seed=0.13,
                       label=f"history: {HISTORY_DAYS} days")
        analyze(conn)
    long = first_runs(conn, mid, lambda: hourly.rollup_hour(conn, mid))
    hourly.rollup_hour(conn, mid)
    results["history_growth"] = {"short_s": statistics.median(short), "long_s": statistics.median(long),
                                 "ratio": statistics.median(long) / statistics.median(short),
                                 "history_days": 1 + HISTORY_DAYS, "history_rows_per_hour": HISTORY_ROWS,
                                 **{k: v for k, v in spread("short", short).items() if k != "short_s"},
                                 **{k: v for k, v in spread("long", long).items() if k != "long_s"}}
    notes["history_growth"] = ("the step on the benchmark day's middle hour before and after "
                               f"{HISTORY_DAYS} days of history are loaded; medians (the sides cannot "
                               "alternate: the load is between them)")

    results["cleanup"] = cleanup(conn, pairs["cleanup"])
    notes["cleanup"] = (
        "each round drops the next day of the benchmark week: naive = DELETE of the day's raw rows "
        "and hourly rollup rows + ANALYZE agent_runs, in a transaction rolled back; project = "
        "retention.cleanup, what the cleanup DAG's drop_expired task runs (every hour and day current, "
        "drop the partition, delete_expired_rollups, analyze_raw); checked: the naive DELETE removed "
        "the rows the day had, the project left no raw or hourly rollup row of it")
    conn.close()

    if PG_MEMORY is not None:
        PG_MEMORY.active = True  # the scheduler's runs are a timed step too
    try:  # the services can fail to start; keep every other figure of the run
        results["backfill_scheduler"] = backfill_scheduler(dsn)
    except Exception as exc:
        results["backfill_scheduler"] = {"runs": 0, "seconds": None, "sql_seconds": None, "error": repr(exc)}
        print(f"backfill_scheduler failed: {exc!r}")
    finally:
        if PG_MEMORY is not None:
            PG_MEMORY.active = False
    ran = results["backfill_scheduler"].get("runs")
    if BACKFILL_ROWS and (ran == 24 or not BACKFILL_RUNS):
        # The scheduler runs' week (BACKFILL_ROWS runs/hour): daily and weekly at that size too.
        # Its first day is the scheduler's (or loaded here when it is skipped), the other six
        # days are loaded here, and all of it rolled up untimed.
        conn = connect(dsn)
        execute(conn, SESSION)
        conn.commit()
        load_week(conn, BACKFILL_DAY, BACKFILL_ROWS, BACKFILL_ROWS, 24, f"week at {BACKFILL_ROWS:,}",
                  seed=0.57, skip_hours=24 if ran == 24 else 0)
        analyze(conn)
        for name, value in period_pairs(conn, pairs, BACKFILL_DAY).items():
            results[f"{name}_{BACKFILL_ROWS // 1000}k"] = value
        conn.close()
        notes["daily_weekly_at_backfill_size"] = (
            f"daily_{BACKFILL_ROWS // 1000}k, weekly_{BACKFILL_ROWS // 1000}k: as daily and weekly, on the "
            f"week from {BACKFILL_DAY:%Y-%m-%d} at {BACKFILL_ROWS:,} runs/hour, all 7 days loaded; its first "
            + ("day is the scheduler runs'" if ran == 24 else "day loaded here (no scheduler runs)"))
    results["peak_rss_mb"] = max(peak_rss_mb(), results["backfill_scheduler"].get("peak_task_rss_mb") or 0)
    notes["peak_rss_mb"] = ("peak_rss_mb: the largest resident set of this process, a waited-for child "
                            "or a scheduler task process (Airflow's side)")
    if PG_MEMORY is not None:
        results.update(PG_MEMORY.results())
        results["pg_memory_samples"] = PG_MEMORY.samples
        notes["pg_memory"] = (
            "the bench server's processes (backends and parallel workers), sampled every 0.1 s during "
            "the timed steps and the scheduler runs: pg_peak_rss_mb = the largest VmHWM of one process "
            "(counts the shared buffers it touched), pg_peak_private_mb = the largest private memory "
            "of one process (its sorts and hashes), pg_peak_total_private_mb and pg_peak_total_pss_mb = "
            "the largest sums over all of them at one moment")
    report(results)


def late_repair(conn: Any) -> dict[str, Any]:
    """The next hourly run after late changes in 2 hours against the naive job for all hours."""
    late_hours = [DAY0 + 3 * HOUR, DAY0 + min(17, HOURS - 1) * HOUR]
    next_hour = DAY0 + HOURS * HOUR
    rounds = iter(range(REPEAT))

    def late_changes() -> None:
        i = next(rounds)
        for h in late_hours:
            generate_hours(conn, h, 1, max(ROWS // 100, 1), WORKSPACES, seed=(0.77 + 0.01 * i) % 1,
                           label=f"late rows {h:%H}:00")
            run_script(conn, TOOLS_SQL / "bench/late_changes.sql", {"start": h, "end": h + HOUR})
        clear_hour(conn, next_hour)

    def project_next_run() -> None:
        hourly.rollup_hour(conn, next_hour)
        hourly.repair(conn, before=next_hour)

    def naive_all() -> None:
        for i in range(HOURS):
            naive_hour(conn, DAY0 + i * HOUR)

    return alternate(
        project_next_run, naive_all,
        before_project=late_changes, before_naive=lambda: clear_naive(conn, DAY0, DAY0 + HOURS * HOUR),
        check=lambda: compare(conn, "compare_hourly.sql", {"start": DAY0, "end": DAY0 + HOURS * HOUR},
                              "late_repair"),
        label="late_repair")


def cleanup(conn: Any, project: Callable[..., Any]) -> dict[str, Any]:
    """The benchmark week's days dropped one per round, after the history before them has
    expired (untimed): the naive DELETE (rolled back), then the project's cleanup of the same day."""
    # As the daily and weekly runs leave them in production, every day and week up to the
    # benchmark week's end is current (untimed): a stale period holds its hourly rollups back
    # from deletion (ops.delete_expired_hourly), and the pairs above left some stale (the
    # history's hours were never rolled up, history_growth emptied and re-rolled an hour).
    first = (DAY0 - timedelta(days=HISTORY_DAYS)).date()
    periods.bring_days_up_to_date(conn, first, (DAY0 + 7 * DAY).date())
    monday = first - timedelta(days=first.weekday())
    for week in periods.stale_periods(conn, "week", monday, (DAY0 + 7 * DAY).date()):
        periods.rollup_week(conn, week)
    if HISTORY_DAYS:
        project(conn, DAY0.date() - DAY)
    days = [DAY0 + i * DAY for i in range(min(REPEAT, 7))]
    rounds = iter(days)
    state: dict[str, Any] = {}

    def naive() -> None:
        day = state["day"] = next(rounds)
        with conn.cursor() as cur:
            for statement in statements(TOOLS_SQL / "bench/naive_cleanup.sql"):
                cur.execute(statement, {"start": day, "end": day + DAY})
                state.setdefault("deleted", cur.rowcount)
        conn.rollback()

    def before_naive() -> None:
        state.clear()
        day = days[len(spent["naive"])]
        ((state["raw_rows"], state["rollup_rows"]),) = run_script(
            conn, TOOLS_SQL / "bench/day_rows.sql", {"start": day, "end": day + DAY})

    def check() -> None:
        day = state["day"]
        left = run_script(conn, TOOLS_SQL / "bench/day_rows.sql", {"start": day, "end": day + DAY})[0]
        if state["deleted"] != state["raw_rows"] or left != (0, 0) or not state["rollup_rows"]:
            raise Mismatch(f"cleanup {day:%Y-%m-%d}: the day had {state['raw_rows']} raw rows and "
                           f"{state['rollup_rows']} hourly rollup rows, the naive DELETE removed "
                           f"{state['deleted']}, the project left {left}")

    # The naive side runs first in each round (it leaves the day as it found it).
    spent: dict[str, list[float]] = {"naive": [], "project": []}
    for i in range(len(days)):
        before_naive()
        spent["naive"].append(timed(naive))
        spent["project"].append(timed(lambda: project(conn, state["day"].date())))
        check()
        print(f"cleanup round {i + 1}/{len(days)}: naive {spent['naive'][-1]:.3f} s, "
              f"project {spent['project'][-1]:.3f} s", flush=True)
    return {**pair(spent["project"], spent["naive"]), "day": DAY0.date().isoformat(), "rows": ROWS * HOURS,
            "days": [d.date().isoformat() for d in days]}


def scale(conn: Any) -> dict[str, Any]:
    """The whole hourly step on one hour of each size in SCALE (each its own day), from empty;
    each hour's outputs checked against the naive job's."""
    out: dict[str, Any] = {"rows_per_hour": [], "seconds": [], "seconds_per_million": [],
                           "seconds_min": [], "seconds_max": []}
    for i, rows in enumerate(SCALE):
        hour = DAY0 + timedelta(days=14 + i, hours=12)
        generate_hours(conn, hour, 1, rows, WORKSPACES, seed=0.31, label=f"scale: {rows:,} rows")
        analyze(conn)
        times = first_runs(conn, hour, partial(hourly.rollup_hour, conn, hour))
        # checked like the hourly pair (untimed): the naive job's outputs of this hour
        naive_hour(conn, hour)
        compare(conn, "compare_hourly.sql", {"start": hour, "end": hour + HOUR}, f"scale {rows:,}")
        clear_naive(conn, hour, hour + HOUR)
        seconds = statistics.median(times)
        print(f"scale {rows:,}: median {seconds:.3f} s ({min(times):.3f} to {max(times):.3f})", flush=True)
        out["rows_per_hour"].append(rows)
        out["seconds"].append(seconds)
        out["seconds_min"].append(min(times))
        out["seconds_max"].append(max(times))
        out["seconds_per_million"].append(seconds / rows * 1e6)
        with transaction(conn) as cur:  # the day goes again: later pairs should not read it
            cur.execute("DELETE FROM public.agent_runs WHERE started_at >= %s AND started_at < %s",
                        (hour, hour + HOUR))
        clear_hour(conn, hour)
    curve = [(r, s) for r, s in zip(out["rows_per_hour"], out["seconds"], strict=True) if r >= CURVE_FROM]
    spm = [s / r * 1e6 for r, s in curve]
    out["spread"] = max(spm) / min(spm) if spm else None
    out["marginal_s_per_million"] = [
        {"from": a, "to": b, "s_per_million": (tb - ta) / (b - a) * 1e6}
        for (a, ta), (b, tb) in zip(curve, curve[1:], strict=False)]
    marginals = [m["s_per_million"] for m in out["marginal_s_per_million"]]
    rises = [b / a for a, b in zip(marginals, marginals[1:], strict=False) if a > 0]
    out["marginal_rise"] = max(rises) if rises else None
    small = [(r, s) for r, s in zip(out["rows_per_hour"], out["seconds"], strict=True) if r <= SMALL_HOUR]
    out["small_hour_rows"], out["small_hour_s"] = small[0] if small else (None, None)
    return out


def mv_prepare(conn: Any) -> tuple[float, float]:
    """The views' input, untimed: hourly rollup rows the pipeline produced, copied over the
    last MV_DAYS days; then, as in production, every whole day before today rolled up (the
    daily runs) and every whole ISO week before this one whose days have sketches (the weekly
    runs, Mondays). Returns the sketch buckets per workspace-hour and users per workspace."""
    ((buckets, users),) = run_script(conn, TOOLS_SQL / "bench/mv_rollups.sql",
                                     {"days": MV_DAYS, "src_start": DAY0, "src_hours": HOURS})
    today = datetime.now(UTC).date()
    days = min(MV_DAYS, 31)
    for n in range(1, days + 1):
        periods.rollup_day(conn, today - timedelta(days=n))
    week = today - timedelta(days=today.isoweekday() - 1 + 7)  # the Monday of last week
    while week >= today - timedelta(days=days):
        periods.rollup_week(conn, week)
        week -= timedelta(days=7)
    conn.autocommit = True
    execute(conn, "ANALYZE analytics.execution_metrics_hourly, analytics.runtime_sketch_hourly, "
                  "analytics.user_activity_hourly, analytics.execution_metrics_daily, "
                  "analytics.runtime_sketch_daily, analytics.user_activity_daily, "
                  "analytics.execution_metrics_weekly, analytics.runtime_sketch_weekly")
    conn.autocommit = False
    return float(buckets or 0), float(users or 0)


def mv_refresh(conn: Any, refresh: Callable[[Any], Any]) -> dict[str, Any]:
    """The dashboard views refreshed over rollup rows the pipeline produced, copied over the
    last MV_DAYS days, with the daily and weekly rollups of those days done, as the daily and
    weekly DAGs leave them (mv_prepare)."""
    buckets, users = mv_prepare(conn)
    refresh(conn)  # the first refresh fills the views; the timed ones are the steady state
    times = [timed(lambda: refresh(conn)) for _ in range(REPEAT)]
    rows = execute(conn, "SELECT (SELECT count(*) FROM analytics.workspace_summary_30d) "
                         "+ (SELECT count(*) FROM analytics.workspace_leaderboard_7d)")[0][0]
    return {**spread("project", times), "days": MV_DAYS, "workspaces": WORKSPACES, "rows": rows,
            "buckets_per_workspace_hour": buckets, "users_per_workspace_7d": users}


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
MARGINAL_RISE_GOAL = 1.2
SMALL_HOUR_GOAL_S = 0.1


def _range(d: dict[str, Any], side: str) -> str:
    return f"{_s(d[f'{side}_s'])} ({_s(d.get(f'{side}_min_s'))}-{_s(d.get(f'{side}_max_s'))})"


def report(results: dict[str, Any]) -> None:
    rows = []
    for name, goal in GOALS.items():
        r = results[name]
        met = "" if goal is None else ("yes" if r["ratio"] <= goal else "NO")
        rows.append([name, _range(r, "project"), _range(r, "naive"),
                     f"{r['ratio']:.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f})",
                     f"<= {goal}" if goal else "", met])
    hg = results["history_growth"]
    rows.append(["history_growth", _range(hg, "long"), _range(hg, "short"), f"{hg['ratio']:.3f}", "<= 1.1",
                 "yes" if hg["ratio"] <= 1.1 else "NO"])
    mv = results["mv_refresh"]
    rows.append([f"mv_refresh ({mv['rows']} rows, {mv['days']} d)", _range(mv, "project"), "", "", "< 2 s",
                 "yes" if mv["project_s"] < 2 else "NO"])
    sc = results["scale"]
    for r, sec, spm in zip(sc["rows_per_hour"], sc["seconds"], sc["seconds_per_million"], strict=True):
        rows.append([f"scale {r:,}/h", _s(sec), "", f"{spm:.3f} s/M", "", ""])
    if sc["spread"] is not None:
        rows.append(["scale spread (was: <= 1.3)", "", "", f"{sc['spread']:.3f}", "", ""])
    for m in sc["marginal_s_per_million"]:
        rows.append([f"scale marginal {m['from']:,} -> {m['to']:,}", "", "", f"{m['s_per_million']:.3f} s/M",
                     "", ""])
    if sc["marginal_rise"] is not None:
        rows.append(["scale marginal rise", "", "", f"{sc['marginal_rise']:.3f}", f"<= {MARGINAL_RISE_GOAL}",
                     "yes" if sc["marginal_rise"] <= MARGINAL_RISE_GOAL else "NO"])
    if sc["small_hour_s"] is not None:
        rows.append([f"scale {sc['small_hour_rows']:,}-run hour", _s(sc["small_hour_s"]), "", "",
                     f"<= {SMALL_HOUR_GOAL_S} s", "yes" if sc["small_hour_s"] <= SMALL_HOUR_GOAL_S else "NO"])
    bf = results["backfill_scheduler"]
    if bf.get("runs"):
        rows.append([f"backfill_scheduler ({bf['runs']} runs)", _s(bf["seconds"]), _s(bf["sql_seconds"]),
                     "", "<= 120 s", "yes" if bf["seconds"] <= 120 else "NO"])
    for key in sorted(k for k in results if k.startswith(("daily_", "weekly_"))):
        goal = GOALS[key.split("_")[0]]
        r = results[key]
        rows.append([key, _range(r, "project"), _range(r, "naive"),
                     f"{r['ratio']:.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f})",
                     f"<= {goal}", "yes" if r["ratio"] <= goal else "NO"])
    rows.append(["peak_rss_mb (Airflow side)", f"{results['peak_rss_mb']:.0f}", "", "", "", ""])
    if "pg_peak_rss_mb" in results:
        rows.append(["PostgreSQL: peak VmHWM / private / total private / total PSS MB",
                     " / ".join(f"{results[k]:.0f}" for k in ("pg_peak_rss_mb", "pg_peak_private_mb",
                                                              "pg_peak_total_private_mb",
                                                              "pg_peak_total_pss_mb")), "", "", "", ""])
    print()
    print(tabulate(rows, headers=["operation", "project s (min-max)", "naive s (min-max)", "ratio", "goal", "met"]))
    print(f"\nmedians of {results['repeat']} alternating runs per side; hourly floor (bare scan of the hour): "
          f"{results['hourly']['floor_s']:.3f} s; the step is {results['hourly']['over_floor']:.1f}x it")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(PROJECT_ROOT)}")


def _s(x: float | None) -> str:
    return f"{x:.3f}" if x is not None else "n/a"


if __name__ == "__main__":
    main()
