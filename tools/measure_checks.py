"""What the reconciliation costs, as a share of the step it checks (README, "What it checks").

    .venv/bin/python -m tools.measure_checks [rows_per_hour] [hours] [workspaces]

Loads ``hours`` hours of ``rows_per_hour`` synthetic runs (tools/synthetic.py, as the
benchmark) into a database of its own on the embedded PostgreSQL, then times, each three
times and keeping the fastest: an hour's rollup (``rollup_hour``) against its check, the
day's step from the hourly partials (``rollup_day``) against the day's check (day against
hours, and every hourly row against the day's raw rows), and the anomaly scoring of an hour.
Prints JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

from tools import devdb

DB = "checks_measure"


def fastest(fn, *args, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return round(best, 3)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    hours = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    workspaces = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    reuse = os.environ.get("MEASURE_REUSE") == "1"  # the database of the last measurement, as it is
    devdb.server()
    if not reuse:
        devdb.drop_database(DB)
    devdb.ensure_database(DB)
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = devdb.connection_uri(DB)

    from agent_warehouse.checks import anomalies, reconcile
    from agent_warehouse.db import connect, migrations, transaction
    from agent_warehouse.rollups import hourly, periods
    from tools.synthetic import generate_hours

    conn = connect()
    migrations.migrate(conn)
    day = datetime(2026, 2, 16, tzinfo=UTC)
    first_rollups = 0.0
    if not reuse:
        generate_hours(conn, day, hours, rows, workspaces)
        with transaction(conn) as cur:
            cur.execute("ANALYZE public.agent_runs")
        t0 = time.perf_counter()
        for h in range(hours):
            hourly.rollup_hour(conn, day + timedelta(hours=h))
        first_rollups = time.perf_counter() - t0
    hour = day + timedelta(hours=min(9, hours - 1))
    out = {"rows_per_hour": rows, "hours": hours, "workspaces": workspaces,
           "hours_rolled_up_first_s": round(first_rollups, 2),
           "rollup_hour_s": fastest(hourly.rollup_hour, conn, hour),
           "check_hour_s": fastest(reconcile.check_hour, conn, hour)}
    out["check_hour_share"] = round(out["check_hour_s"] / out["rollup_hour_s"], 3)
    assert not reconcile.check_hour(conn, hour)
    periods.rollup_day(conn, day.date())
    out["rollup_day_s"] = fastest(periods.rollup_day, conn, day.date())
    out["check_day_s"] = fastest(reconcile.check_day, conn, day.date(), True)
    out["check_day_without_raw_s"] = fastest(reconcile.check_day, conn, day.date(), False)
    assert not reconcile.check_day(conn, day.date())
    out["check_day_share_of_rollup_day"] = round(out["check_day_s"] / out["rollup_day_s"], 3)
    out["check_day_without_raw_share"] = round(out["check_day_without_raw_s"] / out["rollup_day_s"], 3)
    if first_rollups:  # the daily step when no hourly run happened: the day's hours rolled up first
        out["check_day_share_of_day_from_raw"] = round(out["check_day_s"] / (first_rollups + out["rollup_day_s"]), 3)
    out["anomalies_hour_s"] = fastest(anomalies.detect_hour, conn, hour)
    conn.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
