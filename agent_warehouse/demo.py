"""``make demo``: a synthetic day rolled up through Airflow on the embedded database."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime, timedelta

from tabulate import tabulate

from agent_warehouse import PROJECT_ROOT, migrations
from agent_warehouse.db import connect, run_script, transaction
from agent_warehouse.synthetic import HOUR, generate_hours, progress

DAY = datetime(2026, 1, 5, tzinfo=UTC)
ROWS_PER_HOUR = int(os.environ.get("DEMO_ROWS_PER_HOUR", "12500"))
WORKSPACES = int(os.environ.get("DEMO_WORKSPACES", "200"))


def load_day(conn) -> int:
    with transaction(conn) as cur:
        cur.execute("SELECT count(*) FROM public.agent_runs WHERE started_at >= %s AND started_at < %s",
                    (DAY, DAY + timedelta(days=1)))
        existing = cur.fetchone()[0]
    if existing:
        print(f"{existing:,} runs of {DAY:%Y-%m-%d} already loaded; reusing them")
        return existing
    return generate_hours(conn, DAY, 24, ROWS_PER_HOUR, WORKSPACES, label="loading a synthetic day")


def roll_up_day() -> float:
    """Run hourly_rollup through Airflow (dag.test) for each hour of the day."""
    for name in ("airflow", "airflow.task", "airflow.processor", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "hourly_rollup.py")).get_dag("hourly_rollup")
    began = time.monotonic()
    for i in range(24):
        run_at = DAY + (i + 1) * HOUR + timedelta(minutes=5)  # the last hour closed at run_at
        dr = dag.test(logical_date=run_at, run_after=run_at)
        if dr.state != "success":
            raise SystemExit(f"hourly_rollup run at {run_at} ended {dr.state}")
        progress(i + 1, 24, "hourly_rollup via Airflow")
    return time.monotonic() - began


def main() -> None:
    conn = connect()
    print("migrations:", ", ".join(migrations.migrate(conn)) or "schema current")
    rows = load_day(conn)
    seconds = roll_up_day()
    top = run_script(conn, "demo/top_workspaces.sql",
                     {"start": DAY, "end": DAY + timedelta(days=1), "limit": 10})
    print(f"\n{rows:,} runs on {DAY:%Y-%m-%d} rolled up in 24 Airflow runs ({seconds:.1f} s)")
    print("Top workspaces by executions (p95 merged from hourly sketches):\n")
    print(tabulate(top, headers=["workspace", "runs", "failure %", "p95 runtime s", "credits"]))
    with transaction(conn) as cur:
        cur.execute("SELECT status, count(*) FROM ops.job_runs WHERE dag_id = 'hourly_rollup' "
                    "GROUP BY status ORDER BY status")
        print("\nops.job_runs:", dict(cur.fetchall()))


if __name__ == "__main__":
    main()
