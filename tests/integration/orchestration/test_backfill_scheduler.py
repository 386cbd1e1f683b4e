"""Backfill through the real scheduler: the session's services (started as ``make up`` starts
them: api-server, scheduler, dag-processor, triggerer; tests/support/services.py) run against
this session's test warehouse; ``airflow backfill create`` fills three hours of
hourly_rollup and one day of daily_rollup; every run must succeed, the rows must match the
independent computation, and each run's audit row must carry the DAG run's final state. A
second backfill with ``--reprocess-behavior completed`` must leave identical rows.

The DAGs' start date (``AGENT_WAREHOUSE_START_DATE``) is far in the future for these
processes: with catchup on, an unpaused DAG would otherwise schedule every period since
the start date up to now. Backfills take their range from ``--from-date``/``--to-date``,
not from the start date, so only the backfill's runs exist. Deadlines stay on in this
path (the scheduler handles them)."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from support import HOUR
from support.checks import assert_exact, assert_matches, raw_rows
from support.oracle import daily_metrics
from support.services import shared_stack
from tools.synthetic import insert_runs, make_runs

DAY = date(2026, 1, 5)
H0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
HOURS = 3
BUDGET_SECONDS = 240
DAGS = ("hourly_rollup", "daily_rollup")
ROLLUP_TABLES = ("analytics.execution_metrics_hourly", "analytics.runtime_sketch_hourly",
                 "analytics.user_activity_hourly", "analytics.execution_metrics_daily",
                 "analytics.runtime_sketch_daily", "analytics.workspace_activity_daily",
                 "analytics.workspace_health_daily")

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def stack(migrated):
    return shared_stack()


def snapshot(conn) -> dict[str, list[tuple]]:
    out = {}
    with conn.cursor() as cur:
        for table in ROLLUP_TABLES:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")
            out[table] = cur.fetchall()
    conn.commit()
    return out


def test_backfill_on_the_real_scheduler_then_reprocess_gives_identical_rows(wh, stack):
    began = time.monotonic()
    deadline = began + BUDGET_SECONDS
    workspaces = [str(uuid.uuid4()) for _ in range(6)]
    rng = random.Random(17)
    insert_runs(wh, make_runs(rng, datetime(2026, 1, 5, tzinfo=UTC), 800, workspaces, span=timedelta(days=1)))
    insert_runs(wh, make_runs(rng, H0, 400, workspaces, span=HOURS * HOUR))
    phases: list[tuple[str, float]] = []
    in_dags = "dag_id IN ('hourly_rollup', 'daily_rollup')"

    def wait_for(what: str, check) -> None:
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(1)
        pytest.fail(f"timed out waiting for {what}; runs: "
                    f"{stack.meta(f'SELECT dag_id, run_id, state FROM dag_run WHERE {in_dags}')}\n{stack.logs()}")

    def runs_done(expected: int) -> bool:
        states = stack.meta(f"SELECT state FROM dag_run WHERE run_type = 'backfill' AND {in_dags}")
        failed = [s for (s,) in states if s == "failed"]
        assert not failed, stack.meta(f"SELECT dag_id, run_id, state FROM dag_run WHERE {in_dags}")
        open_backfills = stack.meta(f"SELECT count(*) FROM backfill WHERE completed_at IS NULL AND {in_dags}")
        return len(states) == expected and all(s == "success" for (s,) in states) and open_backfills == [(0,)]

    def backfill(*extra: str) -> None:
        for dag_id, first, last in (("hourly_rollup", H0, H0 + (HOURS - 1) * HOUR),
                                    ("daily_rollup", DAY, DAY)):
            answer = stack.api.post("/api/v2/backfills", json={
                "dag_id": dag_id, "from_date": first.isoformat(), "to_date": last.isoformat(),
                "max_active_runs": 4, **dict(zip(extra[::2], extra[1::2], strict=True))})
            assert answer.status_code == 200, answer.text

    backfill()
    wait_for(f"{HOURS + 1} backfill runs to succeed", lambda: runs_done(HOURS + 1))
    phases.append(("first backfill", round(time.monotonic() - began, 1)))

    rows = raw_rows(wh)
    for h in range(HOURS):
        assert_exact(wh, H0 + h * HOUR)
    assert_matches(wh, daily_metrics(rows, DAY), "execution_metrics_daily", "day", DAY,
                   "workspace_activity_daily")
    # Nothing but the backfills ran these DAGs.
    assert stack.meta(f"SELECT count(*) FROM dag_run WHERE run_type <> 'backfill' AND {in_dags}") == [(0,)]
    # Each run's audit row says what Airflow says of the run.
    dag_runs = set(stack.meta(f"SELECT dag_id, run_id, state FROM dag_run WHERE {in_dags}"))
    with wh.cursor() as cur:
        cur.execute("SELECT dag_id, run_id, status FROM ops.job_runs WHERE dag_id = ANY(%s)", (list(DAGS),))
        audit = set(cur.fetchall())
    wh.commit()
    assert audit == dag_runs and len(audit) == HOURS + 1
    # The daily run's report page, served by the plugin on the running api-server, behind the login.
    page = f"{stack.base}/reports/daily-{DAY.isoformat()}.html"
    assert httpx.get(page, timeout=10).status_code == 401
    answer = stack.api.get(page)
    assert answer.status_code == 200 and f"Daily report — {DAY.isoformat()}" in answer.text
    first = snapshot(wh)

    backfill("reprocess_behavior", "completed")
    wait_for("the reprocessed runs", lambda: stack.meta(f"SELECT count(*) FROM backfill WHERE {in_dags}")
             == [(4,)] and runs_done(HOURS + 1) and stack.meta(
                 f"SELECT count(*) FROM task_instance WHERE try_number < 2 AND state = 'success' AND {in_dags}")
             == [(0,)])
    assert snapshot(wh) == first
    phases.append(("reprocessed and checked", round(time.monotonic() - began, 1)))
    print(f"\nbackfill test phases (s since start): {phases}")
