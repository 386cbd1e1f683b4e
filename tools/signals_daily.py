"""``make signals-daily WORKSPACE=<uuid> PACK=<id> DAY=<yyyy-mm-dd>`` (all optional).

Runs ``daily_signal_aggregation`` through Airflow (an in-process ``dag.test()`` run, like
``airflow dags test``) for the day (default: yesterday, UTC) and prints each workspace's
ranked emerging companies as a table. With the synthetic provider configured it first
loads its history for the trailing baseline, and registers a demo workspace when the
signal job knows none.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, date, datetime, timedelta

from agent_warehouse import settings
from agent_warehouse.db import connect, migrations
from agent_warehouse.signals import ingest, pipeline, score
from tools import PROJECT_ROOT

DEMO_WORKSPACE = "00000000-0000-4000-8000-000000000001"


def seed_synthetic_history(conn, day: date, days: int = 35) -> int:
    """The synthetic provider's signals for the ``days`` before ``day`` (idempotent)."""
    provider = ingest.REGISTRY["synthetic"]()
    inserted = 0
    for i in range(days, 0, -1):
        start, end = pipeline.day_bounds(day - timedelta(days=i))
        inserted += ingest.ingest(conn, start, end, providers=[provider])["inserted"]
    return inserted


def run_dag(day: date, workspace_id: str | None, pack_id: str | None):
    for name in ("airflow", "airflow.task", "airflow.processor", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "daily_signal_aggregation.py")).get_dag(
        "daily_signal_aggregation")
    run_at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, minutes=30)
    return dag.test(logical_date=run_at, run_after=run_at,
                    run_conf={"workspace_id": workspace_id, "pack_id": pack_id, "job_run_id": None})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=None)
    parser.add_argument("--pack", default=None)
    parser.add_argument("--day", default=None, help="UTC day, default yesterday")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    day = date.fromisoformat(args.day) if args.day else datetime.now(UTC).date() - timedelta(days=1)
    workspace = score.parse_workspace(args.workspace) if args.workspace else None

    conn = connect()
    migrations.migrate(conn)
    if "synthetic" in settings.current().providers:
        print(f"synthetic history: {seed_synthetic_history(conn, day)} new signals")
        if not score.known_workspaces(conn) and workspace is None:
            score.register_workspace(conn, DEMO_WORKSPACE)
            print(f"registered demo workspace {DEMO_WORKSPACE}")
    try:
        targets = pipeline.targets(conn, workspace, args.pack)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dr = run_dag(day, workspace, args.pack)
    print(f"daily_signal_aggregation for {day}: {dr.state} ({len(targets)} workspace(s))\n")
    for ws in targets:
        pipeline.print_top_emerging(conn, day, ws, args.pack, limit=args.top)
        print()
    conn.close()
    return 0 if dr.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
