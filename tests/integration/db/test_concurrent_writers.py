"""The application writing public.agent_runs comes first (issue 10, section 2).

A writer thread behaves like the application (its own connection, autocommit statements:
inserts, updates of running to completed with runtime and credits, deletes by id) on earlier
hours, in partitioned days and in the default partition, while the jobs run: hourly runs that
create partitions (moving the default partition's rows of their day) and repair hours read from
the default partition, and the cleanup's partition drop. No application statement may fail;
the longest wait is printed; once the writer stops every hour is exact against the oracle.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from agent_warehouse.db import connect
from support import HOUR
from support.checks import assert_exact
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

EXPIRED_PART = datetime(2026, 1, 1, tzinfo=UTC)  # partition dropped by the cleanup
EXPIRED_DEFAULT = datetime(2025, 12, 31, tzinfo=UTC)  # default-partition rows the cleanup deletes
DEFAULT_DAY = datetime(2026, 1, 3, tzinfo=UTC)  # stays in the default partition all along
MOVED_DAY = datetime(2026, 1, 4, tzinfo=UTC)  # in the default partition until an hourly run creates its partition
PART_DAY = datetime(2026, 1, 5, tzinfo=UTC)  # partitioned from the start
WRITER_HOURS = [d + h * HOUR for d in (DEFAULT_DAY, MOVED_DAY, PART_DAY) for h in (1, 2, 3)]
MAX_STATEMENTS = 20_000
MAX_SECONDS = 240


class Writer(threading.Thread):
    """The application: short autocommit statements, no timeouts of its own, errors counted."""

    def __init__(self, seed: int, workspaces: list[str], ids: list[tuple[int, datetime]]) -> None:
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.workspaces = workspaces
        self.ids = list(ids)
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.statements = 0
        self.longest = 0.0
        self.longest_sql = ""

    def timed(self, cur, statement: str, params: tuple) -> bool:
        """Run one application statement; count it, time it, keep its error if it fails."""
        began = time.monotonic()
        try:
            cur.execute(statement, params)
            return True
        except Exception as exc:  # an application statement that failed: the test's subject
            self.failures.append(f"{statement.split()[0]}: {exc}")
            return False
        finally:
            took = time.monotonic() - began
            self.statements += 1
            if took > self.longest:
                self.longest, self.longest_sql = took, statement.split()[0]

    def run(self) -> None:
        conn = connect()
        conn.autocommit = True
        deadline = time.monotonic() + MAX_SECONDS
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = 0")  # the application waits as long as it must
            cur.execute("SET statement_timeout = 0")
            while not self.stop.is_set() and self.statements < MAX_STATEMENTS and time.monotonic() < deadline:
                action = self.rng.random()
                if action < 0.4 or len(self.ids) < 50:
                    started = self.rng.choice(WRITER_HOURS) + timedelta(seconds=self.rng.randrange(3600))
                    if self.timed(cur, "INSERT INTO public.agent_runs (workspace_id, user_id, status, started_at) "
                                       "VALUES (%s, %s, 'running', %s) RETURNING id",
                                  (self.rng.choice(self.workspaces), str(uuid.uuid4()), started)):
                        self.ids.append((cur.fetchone()[0], started))
                elif action < 0.85:
                    run_id, _ = self.rng.choice(self.ids)
                    runtime = self.rng.lognormvariate(2, 1)
                    self.timed(cur, "UPDATE public.agent_runs SET status = 'completed', runtime_seconds = %s, "
                                    "credits_consumed = %s WHERE id = %s AND status = 'running'",
                               (runtime, Decimal(f"{runtime * 0.01:.4f}"), run_id))
                else:
                    run_id, _ = self.ids.pop(self.rng.randrange(len(self.ids)))
                    self.timed(cur, "DELETE FROM public.agent_runs WHERE id = %s", (run_id,))
        conn.close()


def running_ids(conn) -> list[tuple[int, datetime]]:
    with conn.cursor() as cur:
        cur.execute("SELECT id, started_at FROM public.agent_runs WHERE started_at >= %s", (DEFAULT_DAY,))
        rows = cur.fetchall()
    conn.commit()
    return rows


def test_jobs_never_fail_or_stall_application_writes(wh, dagbag, monkeypatch):
    rng = random.Random(7)
    workspaces = [str(uuid.uuid4()) for _ in range(5)]
    with wh.cursor() as cur:
        cur.execute("SELECT ops.ensure_agent_runs_partitions(%s::date, %s::date)",
                    (EXPIRED_PART.date(), (EXPIRED_PART + timedelta(days=1)).date()))
        cur.execute("SELECT ops.ensure_agent_runs_partitions(%s::date, %s::date)",
                    (PART_DAY.date(), (PART_DAY + timedelta(days=1)).date()))
    wh.commit()
    for day in (EXPIRED_DEFAULT, EXPIRED_PART):
        insert_runs(wh, make_runs(rng, day + 5 * HOUR, 200, workspaces))
    # Enough rows of the moved day in the default partition that moving them takes a while.
    for h in range(24):
        insert_runs(wh, make_runs(rng, MOVED_DAY + h * HOUR, 1500, workspaces))
    for hour in WRITER_HOURS:
        insert_runs(wh, make_runs(rng, hour, 300, workspaces))
    # The expired days are rolled up before the writer starts (the cleanup needs them current).
    assert run_dag(dagbag, "hourly_rollup", EXPIRED_PART + 6 * HOUR + timedelta(minutes=5),
                   monkeypatch).state == "success"

    writers = [Writer(seed, workspaces, running_ids(wh)) for seed in (1, 2)]
    for w in writers:
        w.start()
    time.sleep(1)
    try:
        # Hourly runs of the moved day: the first creates its partition (and the next days'),
        # moving its rows out of the default partition; each repairs the hours the writer dirtied,
        # some of them read from the default partition.
        for h in (4, 5, 6):
            assert run_dag(dagbag, "hourly_rollup", MOVED_DAY + h * HOUR + timedelta(minutes=5),
                           monkeypatch).state == "success"
        # The cleanup: keeps 3 January on, drops 1 January's partition and 31 December's rows.
        assert run_dag(dagbag, "cleanup_old_data", datetime(2026, 1, 6, 3, tzinfo=UTC), monkeypatch,
                       conf={"raw_days": 3}).state == "success"
        for h in (7, 8):
            assert run_dag(dagbag, "hourly_rollup", PART_DAY + h * HOUR + timedelta(minutes=5),
                           monkeypatch).state == "success"
    finally:
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(timeout=60)
    statements = sum(w.statements for w in writers)
    failures = [f for w in writers for f in w.failures]
    longest = max(writers, key=lambda w: w.longest)
    print(f"\napplication statements: {statements}, failed: {len(failures)}, "
          f"longest wait: {longest.longest * 1000:.0f} ms ({longest.longest_sql})")
    assert statements > 200  # the writer really ran beside the jobs
    assert failures == [], failures[:5]

    with wh.cursor() as cur:
        cur.execute("SELECT count(*) FROM public.agent_runs WHERE started_at < %s", (DEFAULT_DAY,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT to_regclass('public.agent_runs_p20260104') IS NOT NULL, "
                    "(SELECT count(*) FROM public.agent_runs_default WHERE started_at >= %s)",
                    (MOVED_DAY,))
        assert cur.fetchone() == (True, 0)  # the moved day left the default partition
    wh.commit()
    # Once the writer stops, the next hourly run repairs what it changed: every hour exact.
    assert run_dag(dagbag, "hourly_rollup", PART_DAY + 10 * HOUR + timedelta(minutes=5),
                   monkeypatch).state == "success"
    for hour in sorted({*WRITER_HOURS, *(MOVED_DAY + h * HOUR for h in range(24))}):
        assert_exact(wh, hour)
