"""``make demo``: a month of synthetic history, its last day rolled up through Airflow on the
embedded database.

The history (``HISTORY_DAYS`` days up to and including ``DAY``) is generated in one SQL
statement (``tools/sql/demo/generate_history.sql``): daily and weekly cycles, slow growth,
skewed workspaces, a few that degrade over the last days, and an incident (workspace 0's
runs failing and slow for a few afternoon hours of ``DAY``). The days before ``DAY`` are
rolled up in this process by the package's own functions (the same code the DAGs run), and
so is ``DAY`` until ``AIRFLOW_FROM_HOUR``; the rest of ``DAY`` goes through Airflow, hour by
hour, and a late batch arrives in the middle of it for two hours already rolled up, which
the next hourly run repairs.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tabulate import tabulate

from agent_warehouse.db import connect, migrations, run_script
from tools import PROJECT_ROOT, TOOLS_SQL
from tools.synthetic import HOUR, progress

DAY = datetime(2026, 1, 5, tzinfo=UTC)  # the report day (a Monday); make up backfills it
HISTORY_DAYS = int(os.environ.get("DEMO_HISTORY_DAYS", "30"))
FIRST = DAY - timedelta(days=HISTORY_DAYS - 1)
# Average runs per hour (the afternoon peak is 1.6 times that, the night 0.4, weekends about half).
ROWS_PER_HOUR = int(os.environ.get("DEMO_ROWS_PER_HOUR", "400"))
WORKSPACES = int(os.environ.get("DEMO_WORKSPACES", "200"))
DEGRADING = [4, 17, 22, 41]  # workspaces that decline over the last DECLINE_DAYS days
DECLINE_DAYS = 4
INCIDENT = (DAY + timedelta(hours=13), DAY + timedelta(hours=17))  # workspace 0 fails and slows
# Late batches: (hour they started in, workspace, runs), delivered after LATE_AFTER hourly runs of DAY.
LATE = [(DAY + timedelta(hours=6), 7, 300), (DAY - timedelta(days=2, hours=-15), 12, 400)]
LATE_AFTER = 18
# The hours of DAY before this one are rolled up in this process with the history; the rest
# (the incident's last hour and the late batch among them) run through Airflow, one
# hourly_rollup each, then daily_rollup scores the whole day's anomalies. A dag.test() run
# costs as much as some 10 to 30 hours rolled up in-process (2.5 s against 0.12 to 0.24 s).
AIRFLOW_FROM_HOUR = int(os.environ.get("DEMO_AIRFLOW_FROM_HOUR", "16"))


def load_history(conn) -> int:
    """The runs of [FIRST, DAY + 1 day), once; a second demo reuses them."""
    end = DAY + timedelta(days=1)
    if run_script(conn, TOOLS_SQL / "demo/history_loaded.sql", {"first": FIRST, "end": end})[0][0]:
        print(f"the runs of {FIRST:%Y-%m-%d} to {DAY:%Y-%m-%d} are already loaded; reusing them")
    else:
        began = time.monotonic()
        run_script(conn, TOOLS_SQL / "synthetic/ensure_partitions.sql",
                   {"first_day": FIRST.date(), "end_day": end.date() + timedelta(days=1)})
        run_script(conn, TOOLS_SQL / "demo/generate_history.sql", {
            "first": FIRST, "end": end, "rows_per_hour": ROWS_PER_HOUR, "workspaces": WORKSPACES,
            "degrading": DEGRADING, "decline_days": DECLINE_DAYS,
            "incident_start": INCIDENT[0], "incident_end": INCIDENT[1], "seed": 0.42})
        print(f"loaded {HISTORY_DAYS} days of synthetic runs in {time.monotonic() - began:.1f} s")
    return run_script(conn, TOOLS_SQL / "demo/runs_between.sql", {"first": FIRST, "end": end})[0][0]


def roll_up_history(workers: int = 2) -> tuple[float, float]:
    """The days before DAY through the package's functions (what the DAGs run): every hour,
    then each day, its health scores and report page, and the complete weeks. Returns the
    seconds the hours and the days took."""
    from agent_warehouse.reports.daily import write_daily_report
    from agent_warehouse.rollups import health, hourly, periods

    began = time.monotonic()
    hours = [FIRST + i * HOUR for i in range((HISTORY_DAYS - 1) * 24 + AIRFLOW_FROM_HOUR)]
    done = 0

    def roll(chunk: list[datetime]) -> int:
        conn = connect()
        try:
            for h in chunk:
                hourly.rollup_hour(conn, h)
        finally:
            conn.close()
        return len(chunk)

    # Each hour is its own transaction on its own lock: two connections keep both cores busy.
    chunks = [hours[i:i + 24] for i in range(0, len(hours), 24)]
    with ThreadPoolExecutor(workers) as pool:
        for n in pool.map(roll, chunks):
            done += n
            progress(done, len(hours), "rolling up the history's hours")
    hours_took = time.monotonic() - began
    conn = connect()
    days = [FIRST.date() + timedelta(days=i) for i in range(HISTORY_DAYS - 1)]
    for i, day in enumerate(days):
        periods.daily(conn, day)
        health.health_day(conn, day)
        if day >= DAY.date() - timedelta(days=7):
            write_daily_report(conn, day)
        if day.isoweekday() == 7 and day - timedelta(days=6) >= FIRST.date():
            periods.weekly(conn, day - timedelta(days=6))
        progress(i + 1, len(days), "rolling up the history's days")
    conn.close()
    return hours_took, time.monotonic() - began - hours_took


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


def roll_up_day(conn, dagbag) -> float:
    """hourly_rollup through Airflow for each hour of DAY from AIRFLOW_FROM_HOUR (a late
    batch arriving before hour LATE_AFTER), then daily_rollup for the day."""
    began = time.monotonic()
    for i in range(AIRFLOW_FROM_HOUR, 24):
        if i == LATE_AFTER:
            for j, (hour, workspace, rows) in enumerate(LATE):
                run_script(conn, TOOLS_SQL / "demo/late_batch.sql",
                           {"hour": hour, "workspace": workspace, "rows": rows, "seed": 0.1 * (j + 1)})
        run(dagbag, "hourly_rollup", DAY + (i + 1) * HOUR + timedelta(minutes=5))
        progress(i + 1 - AIRFLOW_FROM_HOUR, 24 - AIRFLOW_FROM_HOUR, "hourly_rollup via Airflow")
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
    began = time.monotonic()
    conn = connect()
    print("migrations:", ", ".join(migrations.migrate(conn)) or "schema current")
    rows = load_history(conn)
    history_hours, history_days = roll_up_history() if not run_script(
        conn, TOOLS_SQL / "demo/day_rolled_up.sql", {"day": DAY.date() - timedelta(days=1)})[0][0] else (0.0, 0.0)
    dagbag = airflow_dags()
    seconds = roll_up_day(conn, dagbag)
    top = run_script(conn, TOOLS_SQL / "demo/top_workspaces.sql", {"day": DAY.date(), "limit": 10})
    late = ", ".join(f"{n:,} runs of {h:%Y-%m-%d %H:00}" for h, _, n in LATE)
    print(f"\n{rows:,} runs from {FIRST:%Y-%m-%d} to {DAY:%Y-%m-%d} 23:59 UTC. Rolled up in this process, "
          f"by the package's functions: the {HISTORY_DAYS - 1} days before and {DAY:%Y-%m-%d} until "
          f"{AIRFLOW_FROM_HOUR:02d}:00 (hours {history_hours:.1f} s, days {history_days:.1f} s). Through Airflow: {24 - AIRFLOW_FROM_HOUR} "
          f"hourly_rollup runs and one daily_rollup run ({seconds:.1f} s). A late batch ({late}) "
          f"arrived before the {LATE_AFTER:02d}:00 hour's run, which repaired those hours.")
    print(f"Busiest workspaces on {DAY:%Y-%m-%d} (analytics.execution_metrics_daily, health from "
          "analytics.workspace_health_daily):\n")
    print(tabulate(top, headers=["workspace", "runs", "failure %", "p95 runtime s", "credits",
                                 "health", "band"], intfmt=",", floatfmt=",.1f"))
    emerging_companies(conn, dagbag, run_script(conn, TOOLS_SQL / "demo/busiest_workspace.sql", {"day": DAY.date()})[0][0])
    summary = run_script(conn, TOOLS_SQL / "demo/job_runs_summary.sql", {})
    print("\nops.job_runs:", ", ".join(f"{d} {s}: {n}" for d, s, n in summary))
    print(f"\nThe daily report: {report_path()} (make up serves it under Reports)")
    print(f"make demo took {time.monotonic() - began:.1f} s. See these runs in the Airflow UI: make up "
          "(then make down)")


def report_path() -> str:
    from agent_warehouse import settings

    return str(Path(settings.current().reports_dir) / f"daily-{DAY:%Y-%m-%d}.html")


if __name__ == "__main__":
    main()
