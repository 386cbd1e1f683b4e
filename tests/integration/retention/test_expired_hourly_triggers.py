"""Expired hourly rollups are deleted without the hourly tables' known triggers (migration
0029: the owner's function drops and recreates them in its transaction): the same rows go,
rows_written counts them as the triggers did, nothing is logged, every trigger is as it was
afterwards (definition, state, comment), and a busy table falls back to the deletes through
the triggers."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from agent_warehouse.db import connect
from agent_warehouse.retention import cleanup as retention
from agent_warehouse.rollups import periods
from support.checks import fetch
from support.roles import as_role
from tools.synthetic import insert_runs, make_runs

DAYS = [date(2026, 1, 5) + timedelta(days=i) for i in range(3)]
HOURLY = ["analytics.execution_metrics_hourly", "analytics.runtime_sketch_hourly",
          "analytics.user_activity_hourly", "analytics.workspace_activity_hourly", "ops.rejected_runs_hourly"]
COUNTED = HOURLY[:4]  # the tables whose count trigger adds to rows_written


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def triggers(conn) -> list[tuple[str, str, str, str]]:
    """Every trigger of the hourly tables: table, name, state, definition."""
    return fetch(conn, "SELECT tgrelid::regclass::text, tgname::text, tgenabled::text, pg_get_triggerdef(oid) "
                       "FROM pg_trigger "
                       "WHERE tgrelid = ANY (%s::regclass[]) AND NOT tgisinternal ORDER BY 1, 2", (HOURLY,))


def trigger_oids(conn) -> dict[str, int]:
    """The hourly tables' triggers: oid by 'table.name'."""
    return dict(fetch(conn, "SELECT tgrelid::regclass::text || '.' || tgname, oid::bigint FROM pg_trigger "
                            "WHERE tgrelid = ANY (%s::regclass[]) AND NOT tgisinternal", (HOURLY,)))


def recreated_since(conn, oids: dict[str, int]) -> set[str]:
    """The triggers of ``oids`` that were dropped and created again since."""
    now = trigger_oids(conn)
    return {name for name, oid in oids.items() if now.get(name) != oid}


def rows_before(conn, tables: list[str], before: datetime) -> int:
    return sum(fetch(conn, f"SELECT count(*) FROM {t} WHERE hour < %s", (before,))[0][0] for t in tables)


def logs(conn) -> list[tuple]:
    return fetch(conn, "SELECT 'raw', hour::text FROM ops.agent_runs_invalidations UNION ALL "
                       "SELECT grain, period::text FROM ops.rollup_invalidations ORDER BY 1, 2")


def rows_written(conn) -> int:
    return fetch(conn, "SELECT ops.rows_written()")[0][0]


@pytest.fixture()
def expired(wh):
    """Three days rolled up (with a rejected row); raw rows dropped before the third."""
    ws = [str(uuid.uuid4()) for _ in range(3)]
    for d in DAYS:
        insert_runs(wh, make_runs(random.Random(d.day), midnight(d), 80, ws, span=timedelta(days=1)))
    with wh.cursor() as cur:  # a bad row: a rejected-row count in the hourly rejected table
        cur.execute("INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at, runtime_seconds, "
                    "credits_consumed) VALUES (%s, NULL, 'completed', %s, -1, 1)",
                    (ws[0], midnight(DAYS[0]) + timedelta(hours=3)))
    wh.commit()
    for d in DAYS:
        periods.daily(wh, d)
    periods.rollup_week(wh, DAYS[0])
    with wh.cursor() as cur:
        cur.execute("INSERT INTO ops.retention_state (id, raw_kept_from) VALUES (true, %s)", (midnight(DAYS[2]),))
    wh.commit()
    return {"hourly_kept_from": DAYS[2], "job_runs_kept_from": DAYS[0]}


def test_expired_rows_go_counted_and_unlogged_with_every_trigger_as_before(wh, expired):
    cutoff = midnight(DAYS[2])
    # An administrator's choice survives the cleanup: a trigger turned off stays off.
    with wh.cursor() as cur:
        cur.execute("ALTER TABLE analytics.workspace_activity_hourly DISABLE TRIGGER workspace_activity_hourly_count_delete")
        cur.execute("COMMENT ON TRIGGER execution_metrics_hourly_log_delete ON analytics.execution_metrics_hourly "
                    "IS 'a note'")
    wh.commit()
    before = triggers(wh)
    hourly, rejected = rows_before(wh, COUNTED, cutoff), rows_before(wh, HOURLY[4:], cutoff)
    # workspace_activity_hourly's count trigger is off: its rows were never counted.
    counted = rows_before(wh, COUNTED[:3], cutoff)
    assert hourly > 0 and rejected > 0
    logged, written, oids = logs(wh), rows_written(wh), trigger_oids(wh)
    notices: list[str] = []
    wh.add_notice_handler(lambda d: notices.append(d.message_primary or ""))

    deleted = retention.delete_expired_rollups(wh, expired)

    # The deletes ran without the known, enabled delete triggers (taken away, then put back).
    assert recreated_since(wh, oids) == {
        f"{t}.{name}" for t in HOURLY for name in ("keep_expired_period", f"{t.split('.')[1]}_count_delete",
                                                   f"{t.split('.')[1]}_log_delete",
                                                   f"{t.split('.')[1]}_outside_delete")
        if f"{t}.{name}" in oids and name != "workspace_activity_hourly_count_delete"}

    assert (deleted["hourly_rows"], deleted["rejected_rows"]) == (hourly, rejected)
    assert rows_before(wh, HOURLY, cutoff) == 0
    assert rows_before(wh, HOURLY, midnight(DAYS[2] + timedelta(days=1))) > 0  # the kept day is whole
    assert rows_written(wh) - written == counted
    assert logs(wh) == logged
    assert triggers(wh) == before
    assert fetch(wh, "SELECT obj_description(oid, 'pg_trigger') FROM pg_trigger "
                     "WHERE tgname = 'execution_metrics_hourly_log_delete'") == [("a note",)]
    assert not [n for n in notices if "through their triggers" in n]
    with wh.cursor() as cur:
        cur.execute("COMMENT ON TRIGGER execution_metrics_hourly_log_delete ON analytics.execution_metrics_hourly IS NULL")
        cur.execute("ALTER TABLE analytics.workspace_activity_hourly ENABLE TRIGGER workspace_activity_hourly_count_delete")
    wh.commit()


def test_a_write_outside_a_rollup_still_fires_its_triggers_after_the_cleanup(wh, expired):
    retention.delete_expired_rollups(wh, expired)
    written = rows_written(wh)
    with wh.cursor() as cur:  # a direct delete of a kept hour: counted and logged as a change
        cur.execute("DELETE FROM analytics.execution_metrics_hourly WHERE hour = %s",
                    (midnight(DAYS[2]) + timedelta(hours=5),))
        n = cur.rowcount
    wh.commit()
    assert n > 0 and rows_written(wh) - written == n
    assert (str(midnight(DAYS[2]) + timedelta(hours=5)) in {h for g, h in logs(wh) if g == "raw"}
            or ("day", str(DAYS[2])) in logs(wh))


def test_a_busy_table_falls_back_to_the_deletes_through_the_triggers(wh, expired):
    cutoff = midnight(DAYS[2])
    hourly = rows_before(wh, COUNTED, cutoff)
    before, written, oids = triggers(wh), rows_written(wh), trigger_oids(wh)
    other = connect()
    try:
        other.execute("LOCK TABLE analytics.user_activity_hourly IN ROW EXCLUSIVE MODE")  # a writer, open
        with wh.cursor() as cur:
            cur.execute("SET agent_warehouse.ddl_lock_attempts = 2")
            cur.execute("SET agent_warehouse.ddl_lock_timeout_ms = 20")
        wh.commit()
        notices: list[str] = []
        wh.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        deleted = retention.delete_expired_rollups(wh, expired)
    finally:
        other.close()
        with wh.cursor() as cur:
            cur.execute("RESET agent_warehouse.ddl_lock_attempts")
            cur.execute("RESET agent_warehouse.ddl_lock_timeout_ms")
        wh.commit()
    assert [n for n in notices if "through their triggers" in n]
    assert deleted["hourly_rows"] == hourly and rows_before(wh, HOURLY, cutoff) == 0
    assert rows_written(wh) - written == hourly  # counted by the triggers themselves
    assert triggers(wh) == before and recreated_since(wh, oids) == set()


def test_the_job_role_expires_through_the_owner_without_rights_on_the_triggers(wh, expired):
    job = as_role("agent_warehouse_job")
    try:
        cutoff = midnight(DAYS[2])
        hourly = rows_before(wh, COUNTED, cutoff)
        assert retention.delete_expired_rollups(job, expired)["hourly_rows"] == hourly
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            job.execute("ALTER TABLE analytics.execution_metrics_hourly "
                        "DISABLE TRIGGER execution_metrics_hourly_count_delete")
        job.rollback()
    finally:
        job.close()
    assert all(state == "O" for _, _, state, _ in triggers(wh))


def test_a_call_from_a_statement_reading_the_table_works_too(wh, expired):
    cutoff = midnight(DAYS[2])
    hourly, before = rows_before(wh, COUNTED, cutoff), triggers(wh)
    ((done,),) = fetch(wh, "SELECT ops.delete_expired_hourly(%s) FROM analytics.execution_metrics_hourly "
                           "WHERE hour = %s LIMIT 1", (cutoff, midnight(DAYS[0])))  # the table open meanwhile
    assert done["hourly_rows"] == hourly and rows_before(wh, HOURLY, cutoff) == 0
    assert triggers(wh) == before
