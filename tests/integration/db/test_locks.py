"""Locks and the retention bookkeeping (issue 10, sections 4 and 5): one registry of advisory-lock
keys, DDL that gives up clearly instead of queueing the application, idle sessions that cannot
keep a lock, and a job role that cannot forge or erase what the cleanup's drop relies on."""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from agent_warehouse import SQL_DIR, settings
from agent_warehouse.db import connect
from agent_warehouse.rollups import hourly
from support import HOUR
from support.roles import as_role, refused
from tools.synthetic import insert_runs, make_runs

OLD_DAY = datetime(2026, 2, 1, tzinfo=UTC)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, psycopg2 or psycopg 3."""
    return getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)




def one(conn, statement: str, params=None):
    with conn.cursor() as cur:
        cur.execute(statement, params)
        row = cur.fetchone()
    conn.commit()
    return row


# ------------------------------------------------------------------ the registry
ADVISORY_CALL = re.compile(r"pg_advisory\w*\s*\(", re.IGNORECASE)


def test_every_advisory_lock_comes_from_the_registry(wh):
    names = set(re.findall(r"WHEN '(\w+)'\s+THEN (\d+)",
                           (SQL_DIR / "migrations/0013_locks.sql").read_text()))
    assert len({k for _, k in names}) == len(names)  # one key per name
    for name, key in names:
        assert one(wh, "SELECT ops.lock_key(%s)", (name,))[0] == int(key)
    used = set()
    for path in SQL_DIR.rglob("*.sql"):
        if path.parent.name == "migrations" and path.name < "0013":
            continue  # immutable; the functions that took literal keys are replaced by 0013
        for line in path.read_text().splitlines():
            code = line.split("--")[0]
            if ADVISORY_CALL.search(code) and "lock_key" not in code:
                pytest.fail(f"{path.relative_to(SQL_DIR)}: advisory lock without ops.lock_key: {line.strip()}")
            used.update(re.findall(r"lock_key\('(\w+)'\)", code))
    assert used <= {n for n, _ in names}
    # The daily rollup, the signal derive step and the cleanup no longer share a key.
    assert len({one(wh, "SELECT ops.lock_key(%s)", (n,))[0]
                for n in ("rollup_day", "signals_derive", "agent_runs_ddl")}) == 3
    with pytest.raises(Exception, match="no advisory lock named"):
        one(wh, "SELECT ops.lock_key('nope')")
    wh.rollback()


# ------------------------------------------------------------ sessions and DDL
def test_job_sessions_end_when_idle_in_a_transaction(migrated, monkeypatch):
    """A worker killed mid-transaction cannot keep an hour's lock: the server ends the session."""
    s = settings.current()
    assert f"idle_in_transaction_session_timeout={s.idle_in_transaction_timeout_ms}" in s.hook_params()["options"]
    monkeypatch.setenv("AGENT_WAREHOUSE_IDLE_IN_TRANSACTION_TIMEOUT_MS", "500")
    stuck = connect()
    with stuck.cursor() as cur:
        cur.execute("SHOW idle_in_transaction_session_timeout")
        assert cur.fetchone()[0] == "500ms"
        cur.execute("SELECT pg_advisory_xact_lock(ops.lock_key('rollup_hour'), 1)")
    # ... and the worker dies here: no commit, no close.
    other = connect()
    try:
        with other.cursor() as cur:
            cur.execute("SET lock_timeout = '20s'")
            cur.execute("SELECT pg_advisory_xact_lock(ops.lock_key('rollup_hour'), 1)")
        other.rollback()
    finally:
        other.close()
    with pytest.raises(Exception, match="idle-in-transaction|closed"), stuck.cursor() as cur:
        cur.execute("SELECT 1")  # the server ended the session
    stuck.close()


def test_partition_ddl_gives_up_clearly_without_holding_up_writers(wh):
    """A long reader keeps agent_runs busy: partition creation waits 100 ms at a time, lets the
    application through between attempts, and after its attempts fails naming the cause."""
    reader = connect()
    with reader.cursor() as cur:
        cur.execute("SELECT count(*) FROM public.agent_runs")  # holds ACCESS SHARE until rollback
    writer = connect()
    writer.autocommit = True
    waits = []
    stop = threading.Event()

    def write():
        with writer.cursor() as cur:
            while not stop.is_set():
                began = time.monotonic()
                cur.execute("INSERT INTO public.agent_runs (workspace_id, status, started_at) "
                            "VALUES (gen_random_uuid(), 'queued', '2031-03-01T10:00:00Z')")
                waits.append(time.monotonic() - began)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        with wh.cursor() as cur:
            cur.execute("SET agent_warehouse.ddl_lock_attempts = 3")
            with pytest.raises(Exception, match="could not lock") as failure:
                cur.execute("SELECT ops.ensure_agent_runs_partitions('2031-03-01', '2031-03-02')")
        assert sqlstate(failure.value) == "55P03"
        wh.rollback()
    finally:
        stop.set()
        thread.join(timeout=30)
        reader.rollback()
        reader.close()
        writer.close()
    assert one(wh, "SELECT to_regclass('public.agent_runs_p20310301')")[0] is None  # nothing changed
    assert waits and max(waits) < 5  # bounded by the attempts' 100 ms, not by the reader
    print(f"\nwriter statements while the DDL retried: {len(waits)}, longest {max(waits) * 1000:.0f} ms")
    # Once the reader is gone it goes through, moving the default partition's rows.
    assert one(wh, "SELECT ops.ensure_agent_runs_partitions('2031-03-01', '2031-03-02')")[0] == 1
    assert one(wh, "SELECT count(*) FROM public.agent_runs_p20310301")[0] == len(waits)
    assert one(wh, "SELECT count(*) FROM public.agent_runs_default")[0] == 0


# --------------------------------------------- what the drop relies on is the owner's
def load_dirty_old_day(conn) -> datetime:
    """An old partitioned day whose rows were inserted but never rolled up (logged as dirty)."""
    with conn.cursor() as cur:
        cur.execute("SELECT ops.ensure_agent_runs_partitions(%s::date, %s::date)",
                    (OLD_DAY.date(), (OLD_DAY + timedelta(days=1)).date()))
    conn.commit()
    hour = OLD_DAY + 3 * HOUR
    insert_runs(conn, make_runs(random.Random(5), hour, 50, [str(uuid.uuid4())]))
    return hour


def test_job_role_cannot_write_retention_state_or_the_logs(wh):
    hour = load_dirty_old_day(wh)
    job = as_role("agent_warehouse_job")
    try:
        for statement in (
            "INSERT INTO ops.retention_state (id, raw_kept_from) VALUES (true, '2030-01-01')",
            "UPDATE ops.retention_state SET raw_kept_from = '2030-01-01'",
            "DELETE FROM ops.retention_state",
            "TRUNCATE ops.retention_state",
            "INSERT INTO ops.agent_runs_invalidations (hour) VALUES ('2026-02-01T05:00:00Z')",
            "UPDATE ops.agent_runs_invalidations SET hour = hour - interval '1 year'",
            "TRUNCATE ops.agent_runs_invalidations",
            "DELETE FROM ops.hours_rolled_up",
            "TRUNCATE ops.hours_rolled_up",
            # Forging "rolled up" for an hour it is not rolling up: refused by the policy.
            "INSERT INTO ops.hours_rolled_up (hour) VALUES ('2026-02-01T03:00:00Z')",
            "SELECT ops.lock_for_ddl(ARRAY['public.agent_runs']::regclass[])",
        ):
            assert refused(job, statement), statement
        # Erasing the log outside a rollup: refused (migration 0023; before, a row policy).
        assert refused(job, "DELETE FROM ops.agent_runs_invalidations WHERE hour = %s", (hour,))
        assert one(wh, "SELECT count(*) FROM ops.agent_runs_invalidations WHERE hour = %s", (hour,))[0] > 0
        # So the drop still sees the hour and refuses.
        with job.cursor() as cur, pytest.raises(Exception, match="not rolled up") as failure:
            cur.execute("SELECT ops.drop_expired_agent_runs('2026-02-02')")
        assert sqlstate(failure.value) == "55000"
        job.rollback()
        assert one(wh, "SELECT to_regclass('public.agent_runs_p20260201') IS NOT NULL")[0]

        # The rollup itself, as the job role, consumes its hour and records it; then the drop goes.
        hourly.rollup_hour(job, hour)
        assert one(wh, "SELECT count(*) FROM ops.agent_runs_invalidations WHERE hour = %s", (hour,))[0] == 0
        assert one(wh, "SELECT count(*) FROM ops.hours_rolled_up WHERE hour = %s", (hour,))[0] == 1
        with job.cursor() as cur:
            cur.execute("SELECT ops.drop_expired_agent_runs('2026-02-02')")
            assert cur.fetchone()[0]["partitions"] == ["agent_runs_p20260201"]
        job.commit()
        assert one(wh, "SELECT raw_kept_from FROM ops.retention_state")[0] == OLD_DAY + timedelta(days=1)
    finally:
        job.close()


def test_a_day_too_large_to_move_under_a_short_lock_stays_in_the_default_partition(wh):
    """Moving a historical day out of the default partition holds the locks for as long as the
    move takes; above the cap the day stays where it is (correct, unpartitioned) until an
    operator raises the cap for one call."""
    insert_runs(wh, make_runs(random.Random(9), OLD_DAY + 2 * HOUR, 30, [str(uuid.uuid4())]))
    with wh.cursor() as cur:
        cur.execute("SET agent_warehouse.partition_move_max_rows = 20")
        cur.execute("SELECT ops.ensure_agent_runs_partitions(%s::date, %s::date)",
                    (OLD_DAY.date(), (OLD_DAY + timedelta(days=2)).date()))
        assert cur.fetchone()[0] == 1  # the next day (empty) only
    wh.commit()
    assert one(wh, "SELECT to_regclass('public.agent_runs_p20260201')")[0] is None
    assert one(wh, "SELECT count(*) FROM public.agent_runs_default")[0] == 30
    hourly.rollup_hour(wh, OLD_DAY + 2 * HOUR)  # read from the default partition, as before
    assert one(wh, "SELECT sum(total_executions) + coalesce((SELECT sum(row_count) FROM "
                   "ops.rejected_runs_hourly), 0) FROM analytics.execution_metrics_hourly")[0] == 30
    with wh.cursor() as cur:
        cur.execute("SET agent_warehouse.partition_move_max_rows = 30")
        cur.execute("SELECT ops.ensure_agent_runs_partitions(%s::date, %s::date)",
                    (OLD_DAY.date(), (OLD_DAY + timedelta(days=1)).date()))
        assert cur.fetchone()[0] == 1
    wh.commit()
    assert one(wh, "SELECT count(*) FROM public.agent_runs_p20260201")[0] == 30
    assert one(wh, "SELECT count(*) FROM public.agent_runs_default")[0] == 0


def test_expired_default_rows_leave_in_small_batches(wh, monkeypatch):
    """The drop holds its locks for milliseconds; rows of the default partition before the
    horizon go afterwards, a batch per transaction, as the job role."""
    from agent_warehouse.retention import cleanup

    rows = make_runs(random.Random(4), OLD_DAY + 4 * HOUR, 30, [str(uuid.uuid4())])
    insert_runs(wh, rows)  # no partition: the default partition
    hourly.rollup_hour(wh, OLD_DAY + 4 * HOUR)
    monkeypatch.setattr(cleanup, "DEFAULT_ROWS_BATCH", 7)
    job = as_role("agent_warehouse_job")
    try:
        dropped = cleanup.drop_expired_raw(job, (OLD_DAY + timedelta(days=1)).date())
    finally:
        job.close()
    assert dropped["partitions"] == [] and dropped["default_rows"] == 30
    assert one(wh, "SELECT count(*) FROM public.agent_runs")[0] == 0
