"""The benchmark's ``backfill_scheduler``: hourly_rollup runs through a real scheduler.

Starts ``airflow api-server``, ``dag-processor`` and ``scheduler`` (what ``make up`` runs, with
a LocalExecutor of 4) on a metadata database of their own, creates one backfill of ``runs``
hours and waits for every run to succeed. Reports the wall time from the backfill's creation
to the last run's end, the seconds the rollup tasks spent (``sql_seconds``: rollup_hour and
repair_changed_hours, from Airflow's task instances) and the largest peak resident set of any
process the services started (the task processes among them).
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime
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


def run(dsn: str, first_hour: datetime, runs: int, rows_per_hour: int, workspaces: int) -> dict[str, Any]:
    conn = connect(dsn)
    generate_hours(conn, first_hour, runs, rows_per_hour, workspaces, seed=0.57, label="backfill data")
    with conn.cursor() as cur:  # production's own runs would have consumed these as the hours closed
        cur.execute("TRUNCATE ops.agent_runs_invalidations")
        cur.execute("ANALYZE public.agent_runs")
    conn.commit()
    conn.close()

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

        began = time.perf_counter()
        cli("backfill", "create", "--dag-id", "hourly_rollup", "--from-date", first_hour.isoformat(),
            "--to-date", (first_hour + (runs - 1) * HOUR).isoformat())
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
        sql_seconds, task_seconds = _meta(
            "SELECT sum(duration) FILTER (WHERE task_id IN ('rollup_hour', 'repair_changed_hours')), "
            "sum(duration) FROM task_instance WHERE dag_id = 'hourly_rollup'")[0]
        per_task = {task: round(float(avg), 3) for task, avg in _meta(
            "SELECT task_id, avg(duration) FROM task_instance WHERE dag_id = 'hourly_rollup' "
            "GROUP BY task_id ORDER BY 2 DESC")}
        return {"runs": runs, "seconds": seconds, "sql_seconds": float(sql_seconds),
                "task_mean_s": per_task, "tasks": len(per_task) * runs,
                "task_seconds": float(task_seconds), "first_to_last_run_s": float(last_end),
                "rows_per_hour": rows_per_hour, "peak_task_rss_mb": peak / 1024,
                "how": "airflow backfill create on api-server + dag-processor + scheduler (LocalExecutor, "
                       "parallelism 4, max_active_runs 4); seconds from the backfill's creation to "
                       "the last run's success; sql_seconds = rollup_hour + repair task durations"}
    finally:
        svc.stop()
        devdb.drop_database(META_DB)

