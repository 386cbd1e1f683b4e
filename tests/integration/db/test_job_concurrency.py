"""Jobs against jobs (issue 17, section 5): locks in one order, so jobs wait instead of deadlocking.

Every job takes its locks in the order of docs/locking.md: the period's advisory lock, then
ops.retention_state, then public.agent_runs (parent, partitions, default partition), then the
rollup tables. Before migration 0023 the cleanup's drop held agent_runs and then asked for the
retention row that a rollup's guard held FOR SHARE while the rollup asked for agent_runs.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
import uuid
from datetime import UTC, date, datetime, timedelta

from agent_warehouse.db import connect, statements
from agent_warehouse.reports import daily as reports
from agent_warehouse.retention import cleanup as retention
from agent_warehouse.rollups import hourly, periods
from support import HOUR
from support.checks import fetch
from tools.synthetic import insert_runs, make_runs

EXPIRING = date(2025, 12, 29)  # dropped by the cleanup
DAYS = [date(2026, 1, 5) + timedelta(days=i) for i in range(4)]


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_a_rollup_holding_the_retention_row_and_the_drop_wait_for_each_other(wh):
    """The interleaving that deadlocked: a rollup past its guard (the retention row FOR SHARE),
    the cleanup's drop, then the rollup reading agent_runs. Both must finish, in either order."""
    hour = midnight(DAYS[0]) + 3 * HOUR
    insert_runs(wh, make_runs(random.Random(1), hour, 50, [str(uuid.uuid4())]))
    with wh.cursor() as cur:
        cur.execute("INSERT INTO ops.retention_state (id, raw_kept_from) VALUES (true, %s)",
                    (midnight(EXPIRING) - timedelta(days=30),))
    wh.commit()

    rollup = connect()
    script = statements("hourly/rollup_hour.sql")
    params = {"start": hour, "end": hour + HOUR}
    errors: list[str] = []
    with rollup.cursor() as cur:
        cur.execute("SET deadlock_timeout = '200ms'")
        for statement in script[:2]:  # the hour's lock, then the guard (FOR SHARE)
            cur.execute(statement, params)
            cur.fetchall()

    def drop() -> None:
        conn = connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET deadlock_timeout = '200ms'")
                cur.execute("SELECT ops.drop_expired_agent_runs(%s)", (EXPIRING,))
            conn.commit()
        except Exception as exc:  # the subject of the test
            errors.append(f"drop: {type(exc).__name__}: {exc}")
        finally:
            conn.close()

    cleanup = threading.Thread(target=drop)
    cleanup.start()
    time.sleep(1.0)  # the drop is at its locks now
    try:
        with rollup.cursor() as cur:
            for statement in script[2:]:
                cur.execute(statement, params)
        rollup.commit()
    except Exception as exc:
        rollup.rollback()
        errors.append(f"rollup: {type(exc).__name__}: {exc}")
    finally:
        rollup.close()
    cleanup.join(timeout=120)
    assert not cleanup.is_alive()
    assert errors == []
    assert fetch(wh, "SELECT sum(total_executions) FROM analytics.execution_metrics_hourly WHERE hour = %s",
                 (hour,)) == [(50,)]
    assert fetch(wh, "SELECT raw_kept_from FROM ops.retention_state") == [(midnight(EXPIRING),)]


class Job(threading.Thread):
    """One job on its own connection; its exceptions are kept, not raised."""

    def __init__(self, name: str, body) -> None:
        super().__init__(name=name, daemon=True)
        self.body = body
        self.errors: list[str] = []
        self.done = 0

    def run(self) -> None:
        conn = connect()
        try:
            self.body(self, conn)
        except Exception:
            self.errors.append(f"{self.name}: {traceback.format_exc(limit=3)}")
        finally:
            conn.close()


def test_daily_runs_a_cleanup_and_hourly_runs_at_once(wh, tmp_path):
    """Four daily runs and four backfills of the same days (each writing its report), a cleanup
    run over and over and two hourly loops, all at once: no job fails, none deadlocks, every day
    is exact and every report is complete."""
    rng = random.Random(17)
    workspaces = [str(uuid.uuid4()) for _ in range(4)]
    with wh.cursor() as cur:
        cur.execute("SELECT ops.ensure_agent_runs_partitions(%s, %s)", (EXPIRING, DAYS[-1] + timedelta(days=1)))
    wh.commit()
    for day in (EXPIRING, *DAYS):
        insert_runs(wh, make_runs(rng, midnight(day), 600, workspaces, span=timedelta(days=1)))
    periods.daily(wh, EXPIRING)  # the expiring day is current: the cleanup may drop it
    hours = [midnight(d) + h * HOUR for d in DAYS for h in range(24)]

    def daily(day: date, times: int, reports_per_run: int = 1):
        def body(job: Job, conn) -> None:
            for _ in range(times):
                periods.daily(conn, day)
                for _ in range(reports_per_run):  # a backfill rewrites the day's report
                    reports.write_daily_report(conn, day, tmp_path)
                job.done += 1
        return body

    def cleanup(job: Job, conn) -> None:
        for _ in range(10):  # the first drops the expiring day, the others find nothing to drop
            retention.cleanup(conn, EXPIRING + timedelta(days=2),
                              retention.Retention(raw_days=1, hourly_days=1, job_runs_days=1))
            job.done += 1

    def hourly_loop(seed: int):
        def body(job: Job, conn) -> None:
            order = random.Random(seed).sample(hours, len(hours))
            for hour in order[:40]:
                hourly.rollup_hour(conn, hour)
                job.done += 1
        return body

    jobs = [Job(f"daily {d}", daily(d, 2)) for d in DAYS]
    jobs += [Job(f"backfill {d}", daily(d, 2, reports_per_run=15)) for d in DAYS]
    jobs += [Job("cleanup", cleanup), Job("hourly 1", hourly_loop(1)), Job("hourly 2", hourly_loop(2))]
    began = time.monotonic()
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=540)
    took = time.monotonic() - began
    errors = [e for job in jobs for e in job.errors]
    print(f"\n{len(jobs)} jobs, {sum(j.done for j in jobs)} steps in {took:.1f} s, failed: {len(errors)}")
    assert not any(job.is_alive() for job in jobs)
    assert errors == [], errors[0]

    assert fetch(wh, "SELECT count(*) FROM public.agent_runs WHERE started_at < %s", (midnight(DAYS[0]),)) == [(0,)]
    for day in DAYS:
        assert fetch(wh, "SELECT sum(total_executions) FROM analytics.execution_metrics_daily WHERE day = %s",
                     (day,)) == fetch(wh, "SELECT count(*) FROM public.agent_runs WHERE started_at >= %s "
                                          "AND started_at < %s", (midnight(day), midnight(day + timedelta(days=1))))
        assert fetch(wh, "SELECT report->>'day' FROM analytics.daily_reports WHERE day = %s", (day,)) \
            == [(day.isoformat(),)]
        page = tmp_path / f"daily-{day.isoformat()}.html"
        assert page.read_text().rstrip().endswith("</html>")
        assert day.isoformat() in (tmp_path / "index.html").read_text()
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
