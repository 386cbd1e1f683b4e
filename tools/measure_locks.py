"""What an application writer waits while the DDL jobs run (the figures in docs/locking.md).

``.venv/bin/python -m tools.measure_locks`` (``MEASURE_ROWS_PER_HOUR``, default 20,000). Uses a
dedicated ``locks_measure`` database on the embedded PostgreSQL, dropped and recreated each
time. A writer thread updates one row every 2 ms (autocommit, by ``id`` and ``started_at``, no
timeouts of its own) while each case runs; each line gives the job's time and the writer's waits.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tools import TOOLS_SQL, devdb

DB = "locks_measure"
HOUR = timedelta(hours=1)
WRITER_ROW_AT = datetime(2026, 3, 1, 1, tzinfo=UTC)


def execute(conn: Any, statement: str, params: Any = None) -> list[tuple] | None:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        rows = cur.fetchall() if cur.description else None
    conn.commit()
    return rows


class Writer(threading.Thread):
    def __init__(self, started_at: datetime) -> None:
        super().__init__(daemon=True)
        self.started_at = started_at
        self.stop = threading.Event()
        self.waits: list[float] = []

    def run(self) -> None:
        from agent_warehouse.db import connect

        conn = connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = 0")
            cur.execute("SET statement_timeout = 0")
            cur.execute("INSERT INTO public.agent_runs (workspace_id, status, started_at) "
                        "VALUES (gen_random_uuid(), 'running', %s) RETURNING id", (self.started_at,))
            run_id = cur.fetchone()[0]
            while not self.stop.is_set():
                began = time.monotonic()
                # By id and started_at: the plan prunes to one partition (agent_runs has no index on id).
                cur.execute("UPDATE public.agent_runs SET runtime_seconds = random() "
                            "WHERE id = %s AND started_at = %s", (run_id, self.started_at))
                self.waits.append(time.monotonic() - began)
                time.sleep(0.002)
        conn.close()


def case(label: str, job: Callable[[], Any], started_at: datetime = WRITER_ROW_AT) -> None:
    writer = Writer(started_at)
    writer.start()
    time.sleep(0.5)
    began = time.monotonic()
    result = job()
    took = time.monotonic() - began
    time.sleep(0.3)
    writer.stop.set()
    writer.join()
    waits = sorted(writer.waits)
    print(f"{label}: job {took * 1000:.0f} ms; writer {len(waits)} statements, longest wait "
          f"{waits[-1] * 1000:.0f} ms, median {waits[len(waits) // 2] * 1000:.1f} ms -> {result}", flush=True)


def main() -> int:
    devdb.server()
    devdb.drop_database(DB)
    devdb.ensure_database(DB)
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = devdb.connection_uri(DB)
    from agent_warehouse.db import connect, migrations, run_script
    from agent_warehouse.rollups import hourly

    rows = int(os.environ.get("MEASURE_ROWS_PER_HOUR", "20000"))
    conn = connect()
    migrations.migrate(conn)

    def load_day(day: datetime) -> None:
        for i in range(24):
            run_script(conn, TOOLS_SQL / "synthetic/generate_hour.sql",
                       {"start": day + i * HOUR, "rows": rows, "workspaces": 1000, "seed": 0.3 + i * 0.001})
        conn.autocommit = True  # settle statistics and visibility so autovacuum does not interfere
        execute(conn, "VACUUM ANALYZE public.agent_runs")
        conn.autocommit = False

    def ensure(first: str, after: str, max_rows: int | None = None) -> Any:
        if max_rows is not None:
            execute(conn, "SELECT set_config('agent_warehouse.partition_move_max_rows', %s, false)", (str(max_rows),))
        result = execute(conn, "SELECT ops.ensure_agent_runs_partitions(%s, %s)", (first, after))
        execute(conn, "RESET agent_warehouse.partition_move_max_rows")
        return result[0][0]

    day_rows = 24 * rows
    execute(conn, "SELECT ops.ensure_agent_runs_partitions('2026-03-01', '2026-03-02')")
    case("create a partition, default partition empty", lambda: ensure("2026-03-05", "2026-03-06"))
    load_day(datetime(2026, 3, 10, tzinfo=UTC))  # no partition yet: the default partition
    case(f"create a partition, {day_rows} rows of its day in the default partition (over the cap)",
         lambda: ensure("2026-03-10", "2026-03-11"))
    case(f"create a partition, cap raised: {day_rows} rows moved",
         lambda: ensure("2026-03-10", "2026-03-11", max_rows=10 * day_rows))
    load_day(datetime(2026, 3, 20, tzinfo=UTC))
    case(f"create a partition, {day_rows} rows of another day in the default partition",
         lambda: ensure("2026-03-12", "2026-03-13"))
    execute(conn, "DELETE FROM public.agent_runs_default")

    expiring = datetime(2026, 3, 5, tzinfo=UTC)
    load_day(expiring)
    for h in range(24):
        hourly.rollup_hour(conn, expiring + h * HOUR)
    hourly.rollup_hour(conn, WRITER_ROW_AT)
    best = min(_timed(lambda: execute(conn, "SELECT count(*) FROM ops.hours_not_current('-infinity', '2026-03-06')"))
               for _ in range(3))
    print(f"cleanup check ops.hours_not_current over a {day_rows}-row day: {best * 1000:.1f} ms", flush=True)
    case(f"cleanup drop of a {day_rows}-row day",
         lambda: execute(conn, "SELECT ops.drop_expired_agent_runs('2026-03-06')")[0][0],
         started_at=datetime(2026, 3, 10, 1, tzinfo=UTC))
    conn.close()
    devdb.drop_database(DB)
    return 0


def _timed(fn: Callable[[], Any]) -> float:
    began = time.monotonic()
    fn()
    return time.monotonic() - began


if __name__ == "__main__":
    raise SystemExit(main())
