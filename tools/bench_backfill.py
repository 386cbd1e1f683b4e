"""The benchmark's ``backfill_scheduler``: hourly_rollup runs through a real scheduler.

Starts ``airflow api-server``, ``dag-processor`` and ``scheduler`` (what ``make up`` runs, with
a LocalExecutor of 4) on a metadata database of their own, creates one backfill of ``runs``
hours and waits for every run to succeed. Reports the wall time from the backfill's creation
to the last run's end, the seconds the rollup tasks spent (``sql_seconds``: rollup_hour and
repair_changed_hours, from Airflow's task instances) and the largest peak resident set of any
process the services started (the task processes among them), the CPU seconds of each
service with its child processes and of PostgreSQL (``cpu_s``), and the mean wait of a task
between queued and started. ``AIRFLOW__CORE__PARALLELISM``, ``AGENT_WAREHOUSE_POOL_SLOTS``,
``AGENT_WAREHOUSE_MAX_ACTIVE_TASKS`` and ``BENCH_BACKFILL_MAX_ACTIVE_RUNS`` (the backfill's
own limit, Airflow's default 10) in the environment change the concurrency measured.

Standalone (``python -m tools.bench_backfill``, or ``make bench-backfill``): the same
measurement without the rest of ``make bench``, on a database of its own. The runs are
loaded once into a template database (``bench_backfill_src``, kept between calls) and each
measurement starts from a fresh copy of it, so repeated runs compare like with like.
Sizes: ``BENCH_BACKFILL_RUNS`` (24), ``BENCH_BACKFILL_ROWS_PER_HOUR`` (200,000),
``BENCH_WORKSPACES`` (1000); ``--repeat N`` measures N times; ``--reload`` loads again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from agent_warehouse import settings
from agent_warehouse.db import connect
from tools import PROJECT_ROOT, devdb
from tools.airflow_services import AIRFLOW, Services, free_port, prepare_metadata
from tools.synthetic import HOUR, generate_hours

META_DB = "bench_meta"
TIMEOUT_S = 1800


def _meta(query: str) -> list[tuple]:
    conn = psycopg.connect(dbname=META_DB, user="postgres", host=devdb.socket_dir())
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


def _peak_rss_kib(sessions: list[int]) -> int:
    """Largest VmHWM (peak resident set) among live processes of the given sessions."""
    peak = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getsid(int(proc.name)) not in sessions:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return peak


def load(dsn: str, first_hour: datetime, runs: int, rows_per_hour: int, workspaces: int) -> None:
    """The backfill's raw runs, as production would hold them when the backfill starts."""
    conn = connect(dsn)
    generate_hours(conn, first_hour, runs, rows_per_hour, workspaces, seed=0.57, label="backfill data")
    with conn.cursor() as cur:  # production's own runs would have consumed these as the hours closed
        cur.execute("TRUNCATE ops.agent_runs_invalidations")
        cur.execute("ANALYZE public.agent_runs")
    conn.commit()
    conn.close()


def _cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far (user + system) of each group of processes: a service with every
    process of its session (the LocalExecutor's workers and task processes among them), or
    PostgreSQL's postmaster with its backends; exited processes count through the parent
    that reaped them."""
    import psutil

    out = dict.fromkeys(groups, 0.0)
    for proc in psutil.process_iter(["pid", "ppid"]):
        try:
            sid = os.getsid(proc.pid)
            name = next((n for n, leader in groups.items()
                         if (n == "postgres" and (proc.pid == leader or proc.info["ppid"] == leader))
                         or (n != "postgres" and sid == leader)), None)
            if name is None:
                continue
            t = proc.cpu_times()
            out[name] += t.user + t.system + t.children_user + t.children_system
        except (psutil.Error, OSError):
            continue
    return out


def _postmaster() -> int:
    return int((devdb.PGDATA / "postmaster.pid").read_text().split()[0])


def run(dsn: str, first_hour: datetime, runs: int, rows_per_hour: int, workspaces: int,
        loaded: bool = False) -> dict[str, Any]:
    """The measurement; ``loaded``: the warehouse at ``dsn`` already holds the runs (``load``)."""
    if not loaded:
        load(dsn, first_hour, runs, rows_per_hour, workspaces)

    home = PROJECT_ROOT / ".airflow" / "bench"
    home.mkdir(parents=True, exist_ok=True)
    devdb.drop_database(META_DB)
    devdb.ensure_database(META_DB)
    # The services as `make up` starts them (tools.airflow_services), without the triggerer.
    env = {**os.environ,
           "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": devdb.sqlalchemy_uri(META_DB),
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
           "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
           "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
           "AGENT_WAREHOUSE_POOL": settings.current().pool,
           # far in the future: only the backfill's runs exist (catchup would replay history)
           "AGENT_WAREHOUSE_START_DATE": "2099-01-01T00:00:00+00:00"}
    env.pop("AGENT_WAREHOUSE_DEADLINES", None)
    svc = Services(home, free_port(), env)
    logs = svc.logs
    env = svc.env()

    def cli(*args: str) -> None:
        done = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-3000:]}")

    try:
        prepare_metadata(env)
        sessions = list(svc.start(("api-server", "dag-processor", "scheduler")).values())
        deadline = time.monotonic() + 300
        while "hourly_rollup" not in {r[0] for r in _meta("SELECT dag_id FROM serialized_dag")}:
            if time.monotonic() > deadline:
                raise TimeoutError("hourly_rollup was not serialized")
            time.sleep(1)

        services = {**svc.running(), "postgres": _postmaster()}
        cpu_before = _cpu_seconds(services)
        began = time.perf_counter()
        # BENCH_BACKFILL_MAX_ACTIVE_RUNS: the backfill's own limit (Airflow's default: 10 runs)
        limit = os.environ.get("BENCH_BACKFILL_MAX_ACTIVE_RUNS")
        cli("backfill", "create", "--dag-id", "hourly_rollup", "--from-date", first_hour.isoformat(),
            "--to-date", (first_hour + (runs - 1) * HOUR).isoformat(),
            *(["--max-active-runs", limit] if limit else []))
        peak = 0
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            peak = max(peak, _peak_rss_kib(sessions))
            states = [s for (s,) in _meta("SELECT state FROM dag_run WHERE run_type = 'backfill'")]
            if "failed" in states:
                raise RuntimeError(f"a backfill run failed: see {logs}")
            if len(states) == runs and all(s == "success" for s in states):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill not done after {TIMEOUT_S} s: {states}")
            time.sleep(0.5)
        last_end = _meta("SELECT extract(epoch FROM max(end_date) - min(start_date)) FROM dag_run "
                         "WHERE run_type = 'backfill'")[0][0]
        seconds = time.perf_counter() - began
        time.sleep(2)  # the last task processes end
        cpu = {k: round(v - cpu_before[k], 1) for k, v in _cpu_seconds(services).items()}
        cpu["total"] = round(sum(cpu.values()), 1)
        sql_seconds, task_seconds = _meta(
            "SELECT sum(duration) FILTER (WHERE task_id IN ('rollup_hour', 'repair_changed_hours')), "
            "sum(duration) FROM task_instance WHERE dag_id = 'hourly_rollup'")[0]
        per_task = {task: round(float(avg), 3) for task, avg in _meta(
            "SELECT task_id, avg(duration) FROM task_instance WHERE dag_id = 'hourly_rollup' "
            "GROUP BY task_id ORDER BY 2 DESC")}
        # how long a task waits between being queued and starting (executor slots, pool)
        ((queued_s,),) = _meta("SELECT avg(extract(epoch FROM start_date - queued_dttm)) "
                               "FROM task_instance WHERE dag_id = 'hourly_rollup'")
        return {"runs": runs, "seconds": seconds, "sql_seconds": float(sql_seconds),
                "task_mean_s": per_task, "tasks": len(per_task) * runs,
                "task_seconds": float(task_seconds),
                "task_queued_mean_s": round(float(queued_s), 3), "first_to_last_run_s": float(last_end),
                "cpu_s": cpu, "rows_per_hour": rows_per_hour, "peak_task_rss_mb": peak / 1024,
                "parallelism": int(env["AIRFLOW__CORE__PARALLELISM"]),
                "backfill_max_active_runs": int(limit or 10),
                "how": "airflow backfill create on api-server + dag-processor + scheduler (LocalExecutor); "
                       "seconds from the backfill's creation to the last run's success; sql_seconds = "
                       "rollup_hour + repair task durations; cpu_s: CPU seconds of each service with its "
                       "child processes (the scheduler's: the LocalExecutor's task processes)"}
    finally:
        svc.stop()
        devdb.drop_database(META_DB)



# ---------------------------------------------------------------------- standalone
FIRST_HOUR = datetime(2026, 2, 16, tzinfo=UTC)  # tools.bench's BACKFILL_DAY
SOURCE_DB, TARGET_DB = "bench_backfill_src", "bench_backfill"


def _source_ready(runs: int, rows_per_hour: int) -> bool:
    try:
        conn = psycopg.connect(dbname=SOURCE_DB, user="postgres", host=devdb.socket_dir())
    except psycopg.OperationalError:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM public.agent_runs WHERE started_at >= %s AND started_at < %s",
                        (FIRST_HOUR, FIRST_HOUR + runs * HOUR))
            return bool(cur.fetchone()[0] == runs * rows_per_hour)  # type: ignore[index]
    except psycopg.Error:
        return False
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    from psycopg import sql

    from agent_warehouse.db import migrations

    parser = argparse.ArgumentParser(description="24 hourly_rollup runs through a real scheduler")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--reload", action="store_true", help="load the runs again")
    args = parser.parse_args(argv)
    runs = int(os.environ.get("BENCH_BACKFILL_RUNS", "24"))
    rows = int(os.environ.get("BENCH_BACKFILL_ROWS_PER_HOUR", "200000"))
    workspaces = int(os.environ.get("BENCH_WORKSPACES", "1000"))
    devdb.server()
    uri = f"host={devdb.socket_dir()} user=postgres dbname="
    if args.reload or not _source_ready(runs, rows):
        devdb.drop_database(SOURCE_DB)
        devdb.ensure_database(SOURCE_DB)
        conn = connect(uri + SOURCE_DB)
        migrations.migrate(conn)
        conn.close()
        load(uri + SOURCE_DB, FIRST_HOUR, runs, rows, workspaces)
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = devdb.connection_uri(TARGET_DB)
    results = []
    for _ in range(args.repeat):
        devdb.drop_database(TARGET_DB)
        with psycopg.connect(host=devdb.socket_dir(), user="postgres", dbname="postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(TARGET_DB), sql.Identifier(SOURCE_DB)))
        result = run(uri + TARGET_DB, FIRST_HOUR, runs, rows, workspaces, loaded=True)
        result["load"] = os.getloadavg()[0]
        results.append(result)
        print(json.dumps(result, indent=1), flush=True)
    devdb.drop_database(TARGET_DB)
    if len(results) > 1:
        print("seconds:", ", ".join(f"{r['seconds']:.1f}" for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
