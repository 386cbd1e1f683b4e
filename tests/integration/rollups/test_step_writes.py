"""Migration 0030 and the hourly step's writes (issue 20, section 3): ops.sync_period inserts
directly into a period with no row and gives the same rows and counts as its upsert, falls back
to the upsert when a row of the period commits meanwhile, and the step gives the same result in
a session whose temporary buffers can no longer be resized."""

from __future__ import annotations

import random
import threading
import time
import uuid
from decimal import Decimal

import psycopg
import pytest

from agent_warehouse.rollups import hourly
from support.checks import H0, assert_exact, fetch
from tools.synthetic import insert_runs, make_runs

TABLES = {
    "analytics.execution_metrics_hourly": "workspace_id, total_executions, successful_executions, "
                                          "failed_executions, avg_runtime, p95_runtime, total_credits",
    "analytics.runtime_sketch_hourly": "workspace_id, runtime_count, runtime_sum, bucket_keys, bucket_counts",
    "analytics.user_activity_hourly": "workspace_id, user_id, runs, credits",
    "analytics.workspace_activity_hourly": "workspace_id, active_users, runs_per_user, total_credits, "
                                           "credits_per_user",
    "ops.rejected_runs_hourly": "workspace_id, reason, row_count",
}


def hour_rows(conn, hour):
    return {t: fetch(conn, f"SELECT {cols} FROM {t} WHERE hour = %s ORDER BY 1, 2", (hour,))
            for t, cols in TABLES.items()}


def loaded_hour(conn):
    rng = random.Random(30)
    workspaces = [str(uuid.uuid4()) for _ in range(6)]
    insert_runs(conn, make_runs(rng, H0, 800, workspaces))
    with conn.cursor() as cur:  # a few bad rows, so the rejected counts are written too
        cur.execute("UPDATE public.agent_runs SET status = 'bogus' WHERE id IN "
                    "(SELECT id FROM public.agent_runs ORDER BY id LIMIT 7)")
    conn.commit()


def test_an_empty_hour_is_written_as_the_upsert_writes_it(wh):
    loaded_hour(wh)
    first = hourly.rollup_hour(wh, H0)  # no row of the hour yet: the direct insert
    fresh = hour_rows(wh, H0)
    assert first["bad_rows"] == 7 and first["metric_rows"] == 6
    assert first["user_rows"] == len(fresh["analytics.user_activity_hourly"])
    assert_exact(wh, H0)
    # Rows of the hour present, some wrong, one extra: the upsert path puts back the same rows.
    with wh.cursor() as cur:
        cur.execute("SET agent_warehouse.keep_period = 'off'")
        cur.execute("UPDATE analytics.user_activity_hourly SET runs = runs + 1 "
                    "WHERE (workspace_id, user_id) = (SELECT workspace_id, user_id FROM "
                    "analytics.user_activity_hourly WHERE hour = %s ORDER BY 1, 2 LIMIT 1) AND hour = %s",
                    (H0, H0))
        cur.execute("INSERT INTO analytics.user_activity_hourly (workspace_id, hour, user_id, runs, credits) "
                    "VALUES (gen_random_uuid(), %s, gen_random_uuid(), 1, 0)", (H0,))
        cur.execute("DELETE FROM analytics.execution_metrics_hourly WHERE hour = %s AND workspace_id = "
                    "(SELECT min(workspace_id::text)::uuid FROM analytics.execution_metrics_hourly WHERE hour = %s)",
                    (H0, H0))
    wh.commit()
    again = hourly.rollup_hour(wh, H0)
    assert hour_rows(wh, H0) == fresh
    assert again["user_rows"] == 2 and again["metric_rows"] == 1  # one updated and one deleted; one inserted
    assert hourly.rollup_hour(wh, H0)["user_rows"] == 0  # unchanged: nothing written


def test_a_row_of_the_period_committed_meanwhile_falls_back_to_the_upsert(wh, other):
    ws, u1, u2, u3 = (str(uuid.uuid4()) for _ in range(4))
    with wh.cursor() as cur:
        cur.execute("CREATE TEMP TABLE src (workspace_id uuid, user_id uuid, runs bigint, credits numeric)")
        cur.execute("INSERT INTO src VALUES (%s, %s, 5, 1.5), (%s, %s, 7, 2)", (ws, u1, ws, u2))
    # Another writer's rows of the hour, not yet committed: the check sees no row of the period.
    with other.cursor() as cur:
        cur.execute("INSERT INTO analytics.user_activity_hourly (workspace_id, hour, user_id, runs, credits) "
                    "VALUES (%s, %s, %s, 1, 0), (%s, %s, %s, 9, 9)", (ws, H0, u1, ws, H0, u3))
    written: list[int] = []

    def sync() -> None:
        with wh.cursor() as cur:
            cur.execute("SELECT ops.sync_period('analytics.user_activity_hourly', 'src', 'hour', %s::timestamptz, "
                        "ARRAY['workspace_id', 'user_id'], ARRAY['runs', 'credits'])", (H0,))
            written.append(cur.fetchone()[0])

    worker = threading.Thread(target=sync)
    worker.start()
    time.sleep(0.5)  # the direct insert waits on the other writer's key
    assert not written
    other.commit()  # ... which then exists: unique violation, the upsert path runs
    worker.join(30)
    wh.commit()
    assert written == [3]  # u3 deleted, u1 updated, u2 inserted
    rows = fetch(wh, "SELECT user_id::text, runs, credits FROM analytics.user_activity_hourly "
                     "WHERE hour = %s ORDER BY runs", (H0,))
    assert rows == [(u1, 5, Decimal("1.5")), (u2, 7, Decimal("2"))]


def test_a_session_that_used_temporary_tables_rolls_up_the_same(wh, other):
    loaded_hour(wh)
    hourly.rollup_hour(wh, H0)
    fresh = hour_rows(wh, H0)
    with wh.cursor() as cur:
        cur.execute("DELETE FROM analytics.user_activity_hourly WHERE hour = %s", (H0,))
    wh.commit()
    # A session whose local buffers are set up (at 8 MB): temp_buffers can no longer change.
    with other.cursor() as cur:
        cur.execute("CREATE TEMP TABLE used AS SELECT 1 AS x")
        cur.execute("SELECT x FROM used")
    other.commit()
    with pytest.raises(psycopg.errors.InvalidParameterValue), other.cursor() as cur:
        cur.execute("SET LOCAL temp_buffers = '64MB'")
    other.rollback()
    assert hourly.rollup_hour(other, H0)["user_rows"] == len(fresh["analytics.user_activity_hourly"])
    assert hour_rows(wh, H0) == fresh
