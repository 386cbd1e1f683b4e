"""``make demo``: a synthetic day rolled up through Airflow on the embedded database."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime, timedelta

from tabulate import tabulate

from agent_warehouse.db import connect, migrations, run_script
from tools import PROJECT_ROOT, TOOLS_SQL
from tools.synthetic import HOUR, generate_hours, progress

DAY = datetime(2026, 1, 5, tzinfo=UTC)
ROWS_PER_HOUR = int(os.environ.get("DEMO_ROWS_PER_HOUR", "12500"))
WORKSPACES = int(os.environ.get("DEMO_WORKSPACES", "200"))


def load_day(conn) -> int:
    if run_script(conn, TOOLS_SQL / "demo/day_loaded.sql", {"day": DAY.date()})[0][0]:
        print(f"the runs of {DAY:%Y-%m-%d} are already loaded; reusing them")
        return run_script(conn, TOOLS_SQL / "demo/day_runs.sql", {"day": DAY.date()})[0][0]
    return generate_hours(conn, DAY, 24, ROWS_PER_HOUR, WORKSPACES, label="loading a synthetic day")


def airflow_dags():
    for name in ("airflow", "airflow.task", "airflow.processor", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def run(dagbag, dag_id: str, run_at: datetime, conf: dict | None = None) -> None:
    """One real Airflow run (dag.test) started at ``run_at``: it takes the last period closed then."""
    began = datetime.now(UTC)
    dr = dagbag.get_dag(dag_id).test(logical_date=run_at, run_after=run_at, run_conf=conf)
    record_real_start(dr.run_id, dag_id, began)
    if dr.state != "success":
        raise SystemExit(f"{dag_id} run at {run_at} ended {dr.state}")


def record_real_start(run_id: str, dag_id: str, began: datetime) -> None:
    """dag.test() records the run as started at its logical date (January), so the UI showed
    the demo's runs as lasting months: store when it really started."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).update(
            {DagRun.start_date: began}, synchronize_session=False)


def roll_up_day(dagbag) -> float:
    """hourly_rollup for each hour of the day, then daily_rollup for the day."""
    began = time.monotonic()
    for i in range(24):
        run(dagbag, "hourly_rollup", DAY + (i + 1) * HOUR + timedelta(minutes=5))
        progress(i + 1, 24, "hourly_rollup via Airflow")
    run(dagbag, "daily_rollup", DAY + timedelta(days=1, hours=1))
    return time.monotonic() - began


def emerging_companies(conn, dagbag, workspace: str) -> None:
    """daily_signal_aggregation for the demo day on synthetic signals, for one workspace."""
    from agent_warehouse.signals import pipeline, score
    from tools import signals_daily as cli

    print(f"\nsynthetic signals: {cli.seed_synthetic_history(conn, DAY.date() + timedelta(days=1))} new")
    score.register_workspace(conn, workspace)
    run(dagbag, "daily_signal_aggregation", DAY + timedelta(days=1, minutes=30),
        {"workspace_id": workspace, "pack_id": None})
    pipeline.print_top_emerging(conn, DAY.date(), workspace, limit=10)


def main() -> None:
    conn = connect()
    print("migrations:", ", ".join(migrations.migrate(conn)) or "schema current")
    rows = load_day(conn)
    dagbag = airflow_dags()
    seconds = roll_up_day(dagbag)
    top = run_script(conn, TOOLS_SQL / "demo/top_workspaces.sql", {"day": DAY.date(), "limit": 10})
    print(f"\n{rows:,} runs on {DAY:%Y-%m-%d} rolled up: 24 hourly_rollup runs and one "
          f"daily_rollup run through Airflow ({seconds:.1f} s)")
    print("Busiest workspaces that day (analytics.execution_metrics_daily, health from "
          "analytics.workspace_health_daily):\n")
    print(tabulate(top, headers=["workspace", "runs", "failure %", "p95 runtime s", "credits",
                                 "health", "band"]))
    emerging_companies(conn, dagbag, run_script(conn, TOOLS_SQL / "demo/busiest_workspace.sql", {"day": DAY.date()})[0][0])
    summary = run_script(conn, TOOLS_SQL / "demo/job_runs_summary.sql", {})
    print("\nops.job_runs:", ", ".join(f"{d} {s}: {n}" for d, s, n in summary))
    print("\nSee these runs in the Airflow UI: make up (then make down)")


if __name__ == "__main__":
    main()
