"""hourly_rollup through real Airflow runs, checked against tests/oracle.py."""

from __future__ import annotations

import math
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from agent_warehouse.db import connect
from agent_warehouse.rollups import hourly
from support import HOUR
from support.checks import H0, RUN_AT, assert_exact, hourly_rows
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs


@pytest.fixture()
def workspaces():
    return [str(uuid.uuid4()) for _ in range(12)]


def test_hourly_run_matches_python_and_writes_audit(wh, dagbag, workspaces, monkeypatch):
    rng = random.Random(7)
    insert_runs(wh, make_runs(rng, H0, 3000, workspaces))
    insert_runs(wh, make_runs(rng, H0 - HOUR, 200, workspaces))  # another hour: not this run's
    dr = run_dag(dagbag, "hourly_rollup", RUN_AT, monkeypatch)
    assert dr.state == "success"
    assert_exact(wh, H0)

    with wh.cursor() as cur:
        cur.execute("SELECT job_type, status, rows_written, period_start, period_end, run_type, finished_at "
                    "FROM ops.job_runs WHERE dag_id = 'hourly_rollup'")
        (job_type, status, rows, p_start, p_end, run_type, finished), = cur.fetchall()
    assert (job_type, status, run_type) == ("hourly_rollup", "success", "manual")
    assert (p_start, p_end) == (H0, H0 + HOUR)
    assert rows > 0 and finished is not None


def test_rerun_gives_identical_rows(wh, dagbag, workspaces, monkeypatch):
    insert_runs(wh, make_runs(random.Random(3), H0, 800, workspaces))
    assert run_dag(dagbag, "hourly_rollup", RUN_AT, monkeypatch).state == "success"
    first = hourly_rows(wh, H0)
    assert run_dag(dagbag, "hourly_rollup", RUN_AT + timedelta(minutes=1), monkeypatch).state == "success"
    assert hourly_rows(wh, H0) == first  # updated_at too: unchanged rows are not rewritten


def test_late_insert_update_and_delete_are_repaired_by_the_next_run(wh, dagbag, workspaces, monkeypatch):
    rng = random.Random(11)
    earlier = H0 - 3 * HOUR
    insert_runs(wh, make_runs(rng, earlier, 500, workspaces))
    insert_runs(wh, make_runs(rng, H0, 500, workspaces))
    hourly.rollup_hour(wh, earlier)
    assert run_dag(dagbag, "hourly_rollup", RUN_AT, monkeypatch).state == "success"
    assert_exact(wh, earlier)

    doomed = str(uuid.uuid4())  # a workspace whose every run is deleted later
    insert_runs(wh, make_runs(rng, earlier, 5, [doomed]))
    with wh.cursor() as cur:
        cur.execute("UPDATE public.agent_runs SET status = 'completed', runtime_seconds = 42.5, "
                    "credits_consumed = 0.5 WHERE status = 'running' AND started_at < %s", (H0,))
        assert cur.rowcount > 0
        cur.execute("DELETE FROM public.agent_runs WHERE ctid IN (SELECT ctid FROM public.agent_runs "
                    "WHERE started_at >= %s AND started_at < %s AND workspace_id <> %s LIMIT 40)",
                    (earlier, earlier + HOUR, doomed))
    wh.commit()
    insert_runs(wh, make_runs(rng, earlier, 60, workspaces))  # late arrivals
    hourly.rollup_hour(wh, earlier)  # roll it up with the doomed workspace in it
    assert doomed in {r[0] for r in hourly_rows(wh, earlier)}
    with wh.cursor() as cur:
        cur.execute("DELETE FROM public.agent_runs WHERE workspace_id = %s", (doomed,))
    wh.commit()

    later = H0 + HOUR
    assert run_dag(dagbag, "hourly_rollup", later + HOUR + timedelta(minutes=5), monkeypatch).state == "success"
    assert_exact(wh, earlier)
    assert doomed not in {r[0] for r in hourly_rows(wh, earlier)}
    with wh.cursor() as cur:
        cur.execute("SELECT details->'hours_repaired' FROM ops.job_runs WHERE period_start = %s", (later,))
        assert cur.fetchone()[0] == [earlier.strftime("%Y-%m-%dT%H:%M:%SZ")]
        cur.execute("SELECT count(*) FROM ops.agent_runs_invalidations WHERE hour < %s", (later,))
        assert cur.fetchone()[0] == 0
    wh.commit()


def test_hour_boundaries_are_half_open(wh, workspaces):
    ws = workspaces[0]
    rows = [(ws, None, "completed", H0, 1.0, Decimal("1")),
            (ws, None, "completed", H0 + HOUR - timedelta(microseconds=1), 2.0, Decimal("2")),
            (ws, None, "completed", H0 + HOUR, 100.0, Decimal("100")),
            (ws, None, "completed", H0 - timedelta(microseconds=1), 100.0, Decimal("100"))]
    with wh.cursor() as cur:
        cur.executemany("INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at, "
                        "runtime_seconds, credits_consumed) VALUES (%s, %s, %s, %s, %s, %s)", rows)
    wh.commit()
    hourly.rollup_hour(wh, H0)
    (row,) = hourly_rows(wh, H0)
    assert row[1] == 2 and row[6] == Decimal("3") and row[4] == 1.5
    assert math.isclose(row[5], 1.95)


def test_bad_rows_are_counted_and_left_out(wh, dagbag, workspaces, monkeypatch):
    ws = workspaces[0]
    insert_runs(wh, make_runs(random.Random(5), H0, 100, [ws]))
    with wh.cursor() as cur:
        cur.executemany(
            "INSERT INTO public.agent_runs (workspace_id, status, started_at, runtime_seconds, credits_consumed) "
            "VALUES (%s, %s, %s, %s, %s)",
            [(ws, "exploded", H0 + timedelta(minutes=1), 1.0, 1),
             (ws, "completed", H0 + timedelta(minutes=2), -5.0, 1),
             (ws, "completed", H0 + timedelta(minutes=3), float("nan"), 1),
             (ws, "failed", H0 + timedelta(minutes=4), 3.0, -1)])
    wh.commit()
    assert run_dag(dagbag, "hourly_rollup", RUN_AT, monkeypatch).state == "success"
    assert_exact(wh, H0)  # the oracle drops the same rows
    with wh.cursor() as cur:
        cur.execute("SELECT reason, row_count FROM ops.rejected_runs_hourly WHERE hour = %s ORDER BY 1", (H0,))
        assert cur.fetchall() == [("invalid_credits", 1), ("invalid_runtime", 2), ("unknown_status", 1)]
        cur.execute("SELECT (details->>'bad_rows')::int FROM ops.job_runs WHERE period_start = %s", (H0,))
        assert cur.fetchone()[0] == 4
    wh.commit()


def test_concurrent_rollups_of_one_hour_neither_double_count_nor_deadlock(wh, workspaces):
    rng = random.Random(9)
    insert_runs(wh, make_runs(rng, H0, 2000, workspaces))
    errors: list[BaseException] = []

    def roll(i: int) -> None:
        try:
            conn = connect()
            if i % 2:
                insert_runs(conn, make_runs(random.Random(i), H0, 50, workspaces))
            hourly.rollup_hour(conn, H0)
            conn.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=roll, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    hourly.repair(wh, before=H0 + 2 * HOUR)  # whatever committed after the last rollup
    assert_exact(wh, H0)


def test_rows_for_days_without_a_partition_land_in_default_and_move_out(wh, workspaces):
    far = datetime(2026, 3, 1, 12, tzinfo=UTC)
    insert_runs(wh, make_runs(random.Random(1), far, 30, workspaces))
    with wh.cursor() as cur:
        cur.execute("SELECT count(*) FROM public.agent_runs_default")
        assert cur.fetchone()[0] == 30
        cur.execute("SELECT ops.ensure_agent_runs_partitions('2026-03-01', '2026-03-02')")
        cur.execute("SELECT count(*) FROM public.agent_runs_default")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM public.agent_runs_p20260301")
        assert cur.fetchone()[0] == 30
        cur.execute("SELECT count(*) FROM ops.agent_runs_invalidations WHERE hour = %s", (far,))
        assert cur.fetchone()[0] == 1  # the insert logged it once; the move did not
    wh.commit()
