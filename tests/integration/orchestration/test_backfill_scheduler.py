"""Backfill through the real scheduler: ``airflow scheduler``, ``airflow dag-processor`` and
``airflow api-server`` (LocalExecutor workers call its Execution API) run as subprocesses
against this session's test databases; ``airflow backfill create`` fills four hours of
hourly_rollup and one day of daily_rollup; every run must succeed and the rows must match
the independent computation. A second backfill with ``--reprocess-behavior completed``
must leave identical rows.

The DAGs' start date (``AGENT_WAREHOUSE_START_DATE``) is set far in the future for these
processes: with catchup on, an unpaused DAG would otherwise schedule every period since
the start date up to now (thousands of hourly runs). Backfills take their range from
``--from-date``/``--to-date``, not from the start date, so only the backfill's runs exist.
Deadlines stay on in this path (the scheduler handles them)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from support import HOUR
from support.checks import assert_exact, assert_matches, raw_rows
from support.oracle import daily_metrics
from support.services import free_port
from tools import devdb
from tools.synthetic import insert_runs, make_runs

DAY = date(2026, 1, 5)
H0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
AIRFLOW = str(Path(sys.executable).parent / "airflow")
BUDGET_SECONDS = 170  # the whole test stays under 3 minutes
ROLLUP_TABLES = ("analytics.execution_metrics_hourly", "analytics.runtime_sketch_hourly",
                 "analytics.user_activity_hourly", "analytics.execution_metrics_daily",
                 "analytics.runtime_sketch_daily", "analytics.workspace_activity_daily",
                 "analytics.workspace_health_daily")

pytestmark = pytest.mark.services


# Its own metadata database: the session's holds the DAG runs of dag.test() (same dates,
# DAGs paused at creation), which would make backfills skip or wait.
SCHED_META_DB = f"test_meta_sched_{os.getpid()}"


def meta(query: str) -> list[tuple]:
    conn = psycopg.connect(dbname=SCHED_META_DB, user="postgres", host=devdb.socket_dir())
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


def wait_for(what: str, check, deadline: float, logs: Path) -> None:
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    tails = "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-25:])
                      for p in sorted(logs.glob("*.log")))
    pytest.fail(f"timed out waiting for {what}; runs: {meta('SELECT dag_id, run_id, state FROM dag_run')}\n{tails}")


def snapshot(conn) -> dict[str, list[tuple]]:
    out = {}
    with conn.cursor() as cur:
        for table in ROLLUP_TABLES:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")
            out[table] = cur.fetchall()
    conn.commit()
    return out


def test_backfill_on_the_real_scheduler_then_reprocess_gives_identical_rows(wh, tmp_path):
    began = time.monotonic()
    deadline = began + BUDGET_SECONDS
    workspaces = [str(uuid.uuid4()) for _ in range(6)]
    rng = random.Random(17)
    insert_runs(wh, make_runs(rng, datetime(2026, 1, 5, tzinfo=UTC), 800, workspaces, span=timedelta(days=1)))
    insert_runs(wh, make_runs(rng, H0, 400, workspaces, span=4 * HOUR))

    port = free_port()
    devdb.ensure_database(SCHED_META_DB)
    env = {**os.environ,
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": devdb.sqlalchemy_uri(SCHED_META_DB),
           "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
           "AIRFLOW__CORE__PARALLELISM": "4",
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
           "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
           "AIRFLOW__API__PORT": str(port),
           # One signing secret for the tokens the scheduler hands workers and the api-server checks.
           "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
           "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex,
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
           "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
           "AGENT_WAREHOUSE_START_DATE": "2099-01-01T00:00:00+00:00",
           "AGENT_WAREHOUSE_REPORTS_DIR": str(tmp_path / "reports")}
    env.pop("AGENT_WAREHOUSE_DEADLINES", None)
    procs: list[subprocess.Popen] = []
    phases: list[tuple[str, float]] = []

    def start(name: str, *args: str) -> None:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen([AIRFLOW, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))

    def cli(*commands: tuple[str, ...]) -> None:
        """Run CLI commands side by side (each costs seconds of imports); all must succeed."""
        running = [subprocess.Popen([AIRFLOW, *c], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for c in commands]
        for p in running:
            out, err = p.communicate(timeout=90)
            assert p.returncode == 0, out[-2000:] + err[-3000:]
        phases.append((" ".join(commands[0][:2]), round(time.monotonic() - began, 1)))

    def runs_done(expected: int) -> bool:
        states = meta("SELECT state FROM dag_run WHERE run_type = 'backfill'")
        failed = [s for (s,) in states if s == "failed"]
        assert not failed, meta("SELECT dag_id, run_id, state FROM dag_run")
        open_backfills = meta("SELECT count(*) FROM backfill WHERE completed_at IS NULL")[0][0]
        return len(states) == expected and all(s == "success" for (s,) in states) and open_backfills == 0

    try:
        cli(("db", "migrate"))
        cli(("pools", "set", "warehouse_writers", "4", "warehouse writers"))  # the tasks' pool
        start("api-server", "api-server", "--port", str(port))
        start("dag-processor", "dag-processor")
        start("scheduler", "scheduler")
        wait_for("the DAGs to be serialized", lambda: {"hourly_rollup", "daily_rollup"} <= {
            r[0] for r in meta("SELECT dag_id FROM serialized_dag")}, deadline, tmp_path)

        phases.append(("serialized", round(time.monotonic() - began, 1)))
        cli(("backfill", "create", "--dag-id", "hourly_rollup", "--from-date", H0.isoformat(),
             "--to-date", (H0 + 3 * HOUR).isoformat()),
            ("backfill", "create", "--dag-id", "daily_rollup", "--from-date", DAY.isoformat(),
             "--to-date", DAY.isoformat()))
        wait_for("5 backfill runs to succeed", lambda: runs_done(5), deadline, tmp_path)

        rows = raw_rows(wh)
        for h in range(4):
            assert_exact(wh, H0 + h * HOUR)
        assert_matches(wh, daily_metrics(rows, DAY), "execution_metrics_daily", "day", DAY,
                       "workspace_activity_daily")
        assert meta("SELECT count(*) FROM dag_run WHERE run_type <> 'backfill'") == [(0,)]  # nothing else ran
        # The daily run's report page, served by the plugin on the running api-server.
        with urllib.request.urlopen(f"http://localhost:{port}/reports/daily-{DAY.isoformat()}.html",
                                    timeout=10) as answer:
            assert answer.status == 200 and f"Daily report — {DAY.isoformat()}" in answer.read().decode()
        first = snapshot(wh)
        with wh.cursor() as cur:
            cur.execute("SELECT dag_id, status, count(*) FROM ops.job_runs GROUP BY 1, 2 ORDER BY 1")
            assert cur.fetchall() == [("daily_rollup", "success", 1), ("hourly_rollup", "success", 4)]
        wh.commit()

        phases.append(("first backfill done and checked", round(time.monotonic() - began, 1)))
        cli(("backfill", "create", "--dag-id", "hourly_rollup", "--from-date", H0.isoformat(),
             "--to-date", (H0 + 3 * HOUR).isoformat(), "--reprocess-behavior", "completed"),
            ("backfill", "create", "--dag-id", "daily_rollup", "--from-date", DAY.isoformat(),
             "--to-date", DAY.isoformat(), "--reprocess-behavior", "completed"))
        wait_for("the reprocessed runs", lambda: meta("SELECT count(*) FROM backfill")[0][0] == 4
                 and runs_done(5) and meta("SELECT count(*) FROM task_instance WHERE try_number < 2 "
                                           "AND state = 'success'")[0][0] == 0, deadline, tmp_path)
        assert snapshot(wh) == first
        phases.append(("reprocessed and checked", round(time.monotonic() - began, 1)))
        print(f"\nbackfill test phases (s since start): {phases}")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        devdb.drop_database(SCHED_META_DB)
