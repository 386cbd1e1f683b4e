"""`airflow dags test` as a user runs it: exit 0 on success, non-zero on failure."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

from support import ROOT
from support.checks import H0, assert_exact
from tools import devdb
from tools.synthetic import insert_runs, make_runs

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def dags_test(run_at: str, **env: str) -> subprocess.CompletedProcess:
    # As the Makefile runs it: `dags test` without DeadlineAlerts (Airflow 3.3.2 fails them there).
    return subprocess.run([AIRFLOW, "dags", "test", "hourly_rollup", run_at],
                          env={**os.environ, "AGENT_WAREHOUSE_DEADLINES": "off", **env},
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_dags_test_rolls_up_the_last_closed_hour_and_exits_zero(wh, airflow_db):
    insert_runs(wh, make_runs(random.Random(4), H0, 500, [str(uuid.uuid4()) for _ in range(4)]))
    done = dags_test("2026-01-05T10:05:00+00:00")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_exact(wh, H0)


def test_dags_test_exits_non_zero_when_the_run_fails(airflow_db, tmp_path):
    name = f"test_unmigrated_{os.getpid()}"
    devdb.ensure_database(name)
    try:
        done = dags_test("2026-01-05T10:05:00+00:00", AIRFLOW_CONN_WAREHOUSE=devdb.connection_uri(name),
                         AGENT_WAREHOUSE_RETRIES="0")
    finally:
        devdb.drop_database(name)
    assert done.returncode != 0
    assert "make migrate" in done.stdout + done.stderr
