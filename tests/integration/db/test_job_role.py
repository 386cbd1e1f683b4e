"""The job role cannot make owner functions destroy or skip data (issue 17, section 4).

As a login holding only ``agent_warehouse_job``: every write its grants allow, enumerated from
the catalog (INSERT, UPDATE, DELETE, TRUNCATE on tables; EXECUTE on functions) and tried with
hostile arguments, leaves the raw rows, the invalidation logs and the retention horizons as
docs/retention.md and docs/locking.md promise. Then the normal pipeline, as the same login.
"""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from agent_warehouse.retention import cleanup as retention
from agent_warehouse.rollups import hourly, periods
from support import HOUR
from support.checks import fetch
from support.roles import job_login, job_login_uri
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

OLD = datetime(2026, 2, 1, tzinfo=UTC)  # far behind the policy's 90 days
NEVER = [OLD + h * HOUR for h in range(8)]  # 8 hours x 30 rows, never rolled up
DIRTY = OLD + 12 * HOUR  # rolled up, then changed
WEEK = date(2026, 1, 26)
RAW_KEPT_FROM = datetime(2026, 1, 1, tzinfo=UTC)
HOURLY_KEPT_FROM = datetime(2025, 12, 1, tzinfo=UTC)


def utc_today() -> date:
    return datetime.now(UTC).date()


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.fixture()
def seeded(wh):
    """Nothing in it may be dropped: the old day's hours are never rolled up or dirty, the
    recent day is inside the policy's 90 days. A week waits in the day-and-week log."""
    recent = midnight(utc_today() - timedelta(days=2))
    workspaces = [str(uuid.uuid4()) for _ in range(3)]
    rng = random.Random(17)
    with wh.cursor() as cur:
        cur.execute("SELECT ops.ensure_agent_runs_partitions(%s, %s)", (OLD.date(), OLD.date() + timedelta(days=1)))
        cur.execute("SELECT ops.ensure_agent_runs_partitions(%s, %s)",
                    (recent.date(), recent.date() + timedelta(days=1)))
    wh.commit()
    for hour in NEVER:
        insert_runs(wh, make_runs(rng, hour, 30, workspaces))
    insert_runs(wh, make_runs(rng, DIRTY, 40, workspaces))
    hourly.rollup_hour(wh, DIRTY)
    insert_runs(wh, make_runs(rng, DIRTY, 5, workspaces))
    insert_runs(wh, make_runs(rng, recent + 3 * HOUR, 20, workspaces))
    hourly.rollup_hour(wh, recent + 3 * HOUR)
    with wh.cursor() as cur:
        cur.execute("INSERT INTO ops.retention_state (id, raw_kept_from, hourly_kept_from) VALUES (true, %s, %s)",
                    (RAW_KEPT_FROM, HOURLY_KEPT_FROM))
        cur.execute("INSERT INTO ops.rollup_invalidations (grain, period) VALUES ('week', %s)", (WEEK,))
    wh.commit()
    job = job_login(wh.info.dbname)
    yield {"job": job, "recent": recent, "workspaces": workspaces}
    job.close()


def state(wh) -> dict:
    return {
        "raw": fetch(wh, "SELECT id, workspace_id, status, started_at, runtime_seconds, credits_consumed "
                         "FROM public.agent_runs ORDER BY id"),
        "hours_logged": {r[0] for r in fetch(wh, "SELECT DISTINCT hour FROM ops.agent_runs_invalidations")},
        "periods_logged": set(fetch(wh, "SELECT DISTINCT grain, period FROM ops.rollup_invalidations")),
        "horizons": fetch(wh, "SELECT raw_kept_from, hourly_kept_from FROM ops.retention_state"),
        "partitions": {r[0] for r in fetch(wh, "SELECT c.relname FROM pg_inherits i JOIN pg_class c "
                                               "ON c.oid = i.inhrelid WHERE i.inhparent = 'public.agent_runs'::regclass")},
        "policy": fetch(wh, "SELECT min_raw_days, min_hourly_days, partition_days_back, partition_days_ahead "
                            "FROM ops.retention_policy")
        if fetch(wh, "SELECT to_regclass('ops.retention_policy') IS NOT NULL") == [(True,)] else [],
        "hours_recorded": {r[0] for r in fetch(wh, "SELECT hour FROM ops.hours_rolled_up")},
        "periods_recorded": set(fetch(wh, "SELECT grain, period FROM ops.periods_rolled_up")),
    }


def assert_as_promised(wh, before: dict, attempt: str) -> None:
    """What docs/retention.md and docs/locking.md promise, whatever the job role did."""
    now = state(wh)
    # No raw row lost: none of them is rolled up and current, or inside the policy's days.
    assert now["raw"] == before["raw"], attempt
    # Log entries are consumed only by their period's rollup (none ran): none went missing.
    assert before["hours_logged"] <= now["hours_logged"], attempt
    assert before["periods_logged"] <= now["periods_logged"], attempt
    # Horizons only move forward, never past a raw row still there, nor past the policy.
    (raw_from, hourly_from), = now["horizons"]
    assert RAW_KEPT_FROM <= raw_from <= min(OLD, midnight(utc_today() - timedelta(days=90))), attempt
    assert HOURLY_KEPT_FROM <= hourly_from <= raw_from, attempt
    # Partitions: none dropped (they hold rows), new ones only near today.
    assert before["partitions"] <= now["partitions"], attempt
    for name in now["partitions"] - before["partitions"]:
        day = datetime.strptime(name.removeprefix("agent_runs_p"), "%Y%m%d").date()
        assert utc_today() - timedelta(days=90) <= day <= utc_today() + timedelta(days=31), (attempt, name)
    assert now["policy"] == before["policy"], attempt
    # Nothing recorded as rolled up unless its rollup counts every raw row (per workspace).
    for hour in now["hours_recorded"] - before["hours_recorded"]:
        assert uncounted(wh, hour) == [], (attempt, hour)
    for grain, period in now["periods_recorded"] - before["periods_recorded"]:
        assert (grain, period) not in {("day", OLD.date()), ("week", WEEK)}, attempt  # hours not all current


def uncounted(wh, hour: datetime) -> list:
    """Workspaces whose raw rows of ``hour`` its rollup (usable plus rejected rows) does not count."""
    return fetch(wh, """
        SELECT * FROM (SELECT workspace_id, count(*) AS n FROM public.agent_runs
                       WHERE started_at >= %(h)s AND started_at < %(h)s + interval '1 hour' GROUP BY 1) r
        FULL JOIN (SELECT workspace_id, sum(n) AS n
                   FROM (SELECT workspace_id, total_executions AS n FROM analytics.execution_metrics_hourly
                         WHERE hour = %(h)s
                         UNION ALL
                         SELECT workspace_id, row_count FROM ops.rejected_runs_hourly WHERE hour = %(h)s) x
                   GROUP BY 1) c USING (workspace_id)
        WHERE r.n IS DISTINCT FROM c.n""", {"h": hour})


def attempt(job, statements: list[str]) -> str:
    """Run ``statements`` in one transaction as the job login; the server's answer, in short."""
    try:
        with job.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        job.commit()
        return "done"
    except psycopg.Error as exc:
        job.rollback()
        return f"{exc.sqlstate} {type(exc).__name__}"


# ------------------------------------------------------- the attempts the audit saw
def test_the_attempts_seen_change_nothing_they_must_not(wh, seeded):
    job = seeded["job"]
    before = state(wh)
    h = NEVER[0]
    hours = ", ".join(f"('{x.isoformat()}')" for x in NEVER)
    answers = {}
    cases = {
        # the lock satisfied the row policies: erase the log, forge "rolled up" for 8 hours
        "lock, erase the log, forge hours_rolled_up": [
            *(f"SELECT pg_advisory_xact_lock(ops.lock_key('rollup_hour'), {int(x.timestamp()) // 3600})" for x in NEVER),
            f"DELETE FROM ops.agent_runs_invalidations WHERE hour IN (SELECT h::timestamptz FROM (VALUES {hours}) v(h))",
            f"INSERT INTO ops.hours_rolled_up (hour) VALUES {hours}"],
        "begin a rollup and commit it unfinished": [f"SELECT ops.begin_rollup('hour', '{h.isoformat()}')"],
        "begin and finish without computing": [f"SELECT ops.begin_rollup('hour', '{h.isoformat()}')",
                                               f"SELECT ops.finish_rollup('hour', '{h.isoformat()}')"],
        "forge the counts inside the hour's rollup of another hour": [
            f"SELECT ops.begin_rollup('hour', '{NEVER[1].isoformat()}')",
            "INSERT INTO analytics.execution_metrics_hourly (workspace_id, hour, total_executions, "
            "successful_executions, failed_executions, total_credits) "
            f"SELECT workspace_id, '{h.isoformat()}', count(*), 0, 0, 0 FROM public.agent_runs "
            f"WHERE started_at >= '{h.isoformat()}' AND started_at < '{(h + HOUR).isoformat()}' GROUP BY 1",
            f"SELECT ops.finish_rollup('hour', '{NEVER[1].isoformat()}')"],
        "drop raw days up to 2100": ["SELECT ops.drop_expired_agent_runs('2100-01-01')"],
        "expire hourly rollups up to 2100": ["SELECT ops.delete_expired_hourly('2100-01-01')"],
        "create a year of partitions in 2200": ["SELECT ops.ensure_agent_runs_partitions('2200-01-01', '2200-12-31')"],
        "create them through the owner's unbounded function": [
            "SELECT ops.create_agent_runs_partitions('2200-01-01', '2200-12-31')"],
        "empty the day and week log": ["DELETE FROM ops.rollup_invalidations"],
        "forge a week as rolled up": [f"INSERT INTO ops.periods_rolled_up (grain, period) VALUES ('week', '{WEEK}')"],
        "raise the policy's floor away": ["UPDATE ops.retention_policy SET min_raw_days = 1"],
        "move the raw horizon": ["UPDATE ops.retention_state SET raw_kept_from = '2100-01-01'"],
    }
    for name, statements in cases.items():
        answers[name] = attempt(job, statements)
        assert_as_promised(wh, before, name)
    print("\n" + "\n".join(f"  {name}: {answer}" for name, answer in answers.items()))
    # The direct writes are refused outright; the owner's functions keep their bounds.
    for name in ("lock, erase the log, forge hours_rolled_up", "empty the day and week log",
                 "forge a week as rolled up", "raise the policy's floor away", "move the raw horizon",
                 "create them through the owner's unbounded function"):
        assert answers[name].startswith("42501"), (name, answers[name])
    assert answers["begin a rollup and commit it unfinished"].startswith("55000")
    assert answers["create a year of partitions in 2200"] == "done"
    assert answers["drop raw days up to 2100"].startswith("55000")  # the old day is not rolled up
    assert before["policy"] == [(90, 90, 90, 31)]
    # Beginning and finishing without computing consumed the hour's entries and logged it again.
    assert h in state(wh)["hours_logged"] and h not in state(wh)["hours_recorded"]


# -------------------------------------------------- every write the grants allow
TYPE_VALUES = {
    "date": ["'2100-01-01'", "'2200-12-31'", "'-infinity'", "'infinity'", "'1900-01-01'", f"'{OLD.date()}'",
             f"'{OLD.date() + timedelta(days=1)}'", "CURRENT_DATE", "CURRENT_DATE + 1000", f"'{WEEK}'", "NULL"],
    "timestamp with time zone": ["'2100-01-01T00:00Z'", "'-infinity'", "'infinity'", f"'{NEVER[3].isoformat()}'",
                                 f"'{DIRTY.isoformat()}'", f"'{OLD.isoformat()}'", f"'{WEEK}T00:00Z'",
                                 "date_trunc('hour', now())", "'2026-02-01T03:30Z'", "NULL"],
    "text": ["'hour'", "'day'", "'week'", "'rollup_hour'", "'agent_runs_ddl'", "'workspace_summary_30d'",
             "'execution_metrics_hourly'", "'x''; DROP TABLE ops.retention_state; --'", "''", "NULL"],
    "integer": ["0", "-1", "1", "2147483647", "NULL"],
    "bigint": ["0", "-1", "1", "9223372036854775807", "NULL"],
    "double precision": ["'NaN'", "1e308", "-1", "0.95"],
    "numeric": ["'NaN'", "1e30", "-1"],
    "uuid": ["gen_random_uuid()", "NULL"],
    "boolean": ["true", "false"],
    "jsonb": ["'{}'", "'[]'"],
    "regclass": ["'ops.retention_state'", "'ops.agent_runs_invalidations'", "'ops.hours_rolled_up'",
                 "'ops.rollup_invalidations'", "'ops.retention_policy'", "'public.agent_runs'",
                 "'analytics.execution_metrics_hourly'"],
    "regclass[]": ["ARRAY['public.agent_runs']", "ARRAY['ops.retention_state', 'public.agent_runs_default']"],
    "text[]": ["ARRAY['workspace_id']", "ARRAY['hour']", "ARRAY[]::text[]", "ARRAY['x; DROP TABLE ops.retention_state']"],
    "integer[]": ["ARRAY[1, 2]", "ARRAY[]::integer[]"],
    "bigint[]": ["ARRAY[1, 2]", "ARRAY[]::bigint[]"],
    "anyelement": [f"'{OLD.date()}'::date", f"'{NEVER[2].isoformat()}'::timestamptz", "'2100-01-01'::date"],
}
PERIOD_COLUMNS = ("hour", "day", "week_start", "period", "started_at", "recorded_at")


def literal(type_name: str, value: str) -> str:
    return value if type_name == "anyelement" else f"{value}::{type_name}"


def function_calls(wh) -> list[str]:
    """Every function the job role may execute (outside pg_catalog), called with hostile
    arguments: each value of each argument at least once, plus random combinations."""
    rows = fetch(wh, """
        SELECT n.nspname, p.proname, p.prokind,
               ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('public', 'analytics', 'ops', 'signals') AND p.prokind IN ('f', 'p')
          AND p.prorettype <> 'trigger'::regtype
          AND has_function_privilege('agent_warehouse_job', p.oid, 'EXECUTE')
        ORDER BY 1, 2""")
    rng = random.Random(23)
    calls = []
    for schema, name, kind, types in rows:
        choices = [TYPE_VALUES[t] for t in types]  # a KeyError names a type this table lacks
        combos = {tuple(c[i % len(c)] for c in choices) for i in range(max(map(len, choices), default=1))}
        if choices:
            combos |= {tuple(rng.choice(c) for c in choices) for _ in range(10)}
        for combo in sorted(combos):
            args = ", ".join(literal(t, v) for t, v in zip(types, combo, strict=True))
            calls.append(f"CALL {schema}.{name}({args})" if kind == "p" else f"SELECT * FROM {schema}.{name}({args})")
    return calls


def table_writes(wh) -> list[str]:
    """Every table write the job role's grants allow, with hostile rows and conditions."""
    grants = fetch(wh, """
        SELECT c.oid::regclass::text, p.priv
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p(priv)
        WHERE n.nspname IN ('public', 'analytics', 'ops', 'signals') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND has_table_privilege('agent_warehouse_job', c.oid, p.priv)
        ORDER BY 1, 2""")
    writes = []
    for table, priv in grants:
        columns = fetch(wh, """
            SELECT a.attname, format_type(a.atttypid, NULL), a.attnotnull, a.atthasdef OR a.attidentity <> ''
            FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum""", (table,))
        period = next((c for c in columns if c[0] in PERIOD_COLUMNS), None)
        if priv == "TRUNCATE":
            writes.append(f"TRUNCATE {table}")
        elif priv == "DELETE":
            writes.append(f"DELETE FROM {table}")
            if period:
                writes.append(f"DELETE FROM {table} WHERE {period[0]} >= '{OLD.date()}'")
        elif priv == "UPDATE":
            if period:
                writes.append(f"UPDATE {table} SET {period[0]} = {period[0]} - interval '7 days'")
                writes.append(f"UPDATE {table} SET {period[0]} = '2100-01-01'")
            numbers = [c for c in columns if c[1] in ("bigint", "integer", "numeric", "double precision")]
            if numbers:
                writes.append(f"UPDATE {table} SET {numbers[0][0]} = {numbers[0][0]} + 1")
            writes.append(f"UPDATE {table} SET {columns[0][0]} = {columns[0][0]}")
        else:
            needed = [c for c in columns if c[2] and not c[3]] or columns[:1]
            for value_of in (0, -1):  # a plausible row (the old day, its counts) and a hostile one
                values = []
                for name, type_name, _, _ in needed:
                    if name == "grain":
                        values.append("'day'" if value_of == 0 else "'week'")
                    elif type_name == "timestamp with time zone":
                        values.append(f"'{NEVER[0].isoformat()}'" if value_of == 0 else "'-infinity'")
                    elif type_name == "date":
                        values.append(f"'{OLD.date()}'" if value_of == 0 else "'infinity'")
                    elif type_name in TYPE_VALUES:
                        values.append(literal(type_name, TYPE_VALUES[type_name][2 if type_name == "integer"
                                                                                    else value_of]))
                    else:
                        values.append(f"NULL::{type_name}")
                writes.append(f"INSERT INTO {table} ({', '.join(c[0] for c in needed)}) VALUES ({', '.join(values)})")
            writes.append(f"INSERT INTO {table} SELECT * FROM {table}")
    return writes


def test_every_write_the_job_role_may_make_keeps_raw_rows_logs_and_horizons(wh, seeded):
    job = seeded["job"]
    before = state(wh)
    calls, writes = function_calls(wh), table_writes(wh)
    answers: dict[str, int] = {}
    for statement in itertools.chain(calls, writes):
        answer = attempt(job, [statement])
        answers[answer.split()[0]] = answers.get(answer.split()[0], 0) + 1
        assert_as_promised(wh, before, statement)
    print(f"\n{len(calls)} function calls, {len(writes)} table writes; answers: {answers}")
    assert len(calls) > 100 and len(writes) > 100

    # The same state is then brought up to date by the pipeline, as the job role: the hours
    # that the attempts left changed are recomputed, and only then can the old day go.
    expected = {ws: n for ws, n in fetch(wh, "SELECT workspace_id, count(*) FROM public.agent_runs "
                                             "WHERE started_at < %s GROUP BY 1", (OLD + timedelta(days=1),))}
    retention.cleanup(job, utc_today(), retention.Retention(raw_days=1, hourly_days=1, job_runs_days=400))
    assert fetch(wh, "SELECT count(*) FROM public.agent_runs WHERE started_at < %s", (OLD + timedelta(days=1),)) \
        == [(0,)]
    assert dict(fetch(wh, "SELECT workspace_id, sum(total_executions) FROM analytics.execution_metrics_daily "
                          "WHERE day = %s GROUP BY 1", (OLD.date(),))) == expected
    assert fetch(wh, "SELECT count(*) FROM public.agent_runs WHERE started_at >= %s", (seeded["recent"],)) == [(20,)]
    assert fetch(wh, "SELECT raw_kept_from FROM ops.retention_state") == \
        [(midnight(utc_today() - timedelta(days=90)),)]


# -------------------------------------------------------- the pipeline as the job role
def test_the_pipeline_runs_as_the_job_login(wh, dagbag, monkeypatch, seeded):
    """hourly, daily, weekly and cleanup runs (real DAG runs) connected as the job login."""
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", job_login_uri(wh.info.dbname))
    day_after = OLD + timedelta(days=1)
    assert run_dag(dagbag, "hourly_rollup", day_after + timedelta(minutes=5), monkeypatch).state == "success"
    assert run_dag(dagbag, "daily_rollup", day_after + HOUR, monkeypatch).state == "success"
    week_after = midnight(WEEK + timedelta(days=7))
    assert run_dag(dagbag, "weekly_rollup", week_after + 2 * HOUR, monkeypatch).state == "success"
    assert fetch(wh, "SELECT count(*) FROM ops.agent_runs_invalidations WHERE hour < %s", (day_after,)) == [(0,)]
    assert fetch(wh, "SELECT count(*) FROM ops.rollup_invalidations WHERE period <= %s", (OLD.date(),)) == [(0,)]
    assert set(fetch(wh, "SELECT grain, period FROM ops.periods_rolled_up")) >= {("day", OLD.date()), ("week", WEEK)}
    raw = fetch(wh, "SELECT count(*) FROM public.agent_runs WHERE started_at < %s", (day_after,))
    assert fetch(wh, "SELECT sum(total_executions) FROM analytics.execution_metrics_weekly WHERE week_start = %s",
                 (WEEK,)) == raw
    assert run_dag(dagbag, "cleanup_old_data", midnight(utc_today()) + 3 * HOUR, monkeypatch,
                   conf={"raw_days": 1, "hourly_days": 1}).state == "success"
    assert fetch(wh, "SELECT count(*) FROM public.agent_runs WHERE started_at < %s", (day_after,)) == [(0,)]
    assert fetch(wh, "SELECT count(*) FROM public.agent_runs WHERE started_at >= %s", (seeded["recent"],)) == [(20,)]
    with job_login(wh.info.dbname) as job:
        # Its hourly rows went too (up to the raw horizon): the day is final, a rerun keeps it.
        assert periods.rollup_day(job, OLD.date())["kept"] is True
    assert fetch(wh, "SELECT sum(total_executions) FROM analytics.execution_metrics_weekly WHERE week_start = %s",
                 (WEEK,)) == raw
