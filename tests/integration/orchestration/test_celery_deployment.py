"""The distributed deployment for real: CeleryExecutor with Redis, as docker-compose.yaml
runs it, but as local processes (no Docker engine here)."""

from __future__ import annotations

import os
import random
import socket
import uuid
from datetime import timedelta

import pytest

from support.checks import H0, RUN_AT, assert_exact
from support.services import Api, free_port, private_metadata_db, service_env, services, wait_for
from tools.synthetic import insert_runs, make_runs

REDIS = os.environ.get("AGENT_WAREHOUSE_TEST_REDIS", "127.0.0.1:6379")


def redis_reachable() -> bool:
    host, port = REDIS.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


pytestmark = [pytest.mark.services,
              pytest.mark.skipif(not redis_reachable(), reason=f"no Redis reachable at {REDIS} for the Celery broker")]


def test_hourly_rollup_triggered_over_rest_runs_on_a_celery_worker(wh, tmp_path):
    workspaces = [str(uuid.uuid4()) for _ in range(6)]
    insert_runs(wh, make_runs(random.Random(21), H0, 1500, workspaces))
    port = free_port()
    queue = f"agent_warehouse_test_{os.getpid()}"
    env = service_env(
        port, tmp_path / "home",
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__CELERY__BROKER_URL=f"redis://{REDIS}/{7 + os.getpid() % 8}",
        AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
        AIRFLOW__CELERY__WORKER_CONCURRENCY="2",
    )
    commands = [["api-server"], ["dag-processor"], ["scheduler"],
                ["celery", "worker", "--queues", queue, "--concurrency", "2"]]
    with private_metadata_db(f"test_meta_celery_{os.getpid()}", env) as meta:
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + meta
        with services(commands, env, tmp_path / "logs"):
            api = Api(port)
            wait_for(api.healthy, 90, "the api-server")
            api.login()
            wait_for(lambda: api.get("/api/v2/dags/hourly_rollup").status_code == 200, 90,
                     "the dag-processor to serialize hourly_rollup")
            assert api.patch("/api/v2/dags/hourly_rollup", {"is_paused": False}).status_code == 200
            r = api.post("/api/v2/dags/hourly_rollup/dagRuns",
                         {"dag_run_id": "celery-proof", "logical_date": RUN_AT.isoformat(), "conf": {}})
            assert r.status_code == 200, r.text
            assert r.json()["data_interval_start"].startswith("2026-01-05T09:00:00")

            def finished() -> str | None:
                state = api.get("/api/v2/dags/hourly_rollup/dagRuns/celery-proof").json()["state"]
                return state if state in ("success", "failed") else None

            state = wait_for(finished, 240, "the run to finish", interval=2)
            tis = api.get("/api/v2/dags/hourly_rollup/dagRuns/celery-proof/taskInstances").json()["task_instances"]
    logs = "".join(p.read_text(errors="replace")[-3000:] for p in (tmp_path / "logs").glob("*.log"))
    assert state == "success", logs
    assert {t["state"] for t in tis} == {"success"}
    assert {t["queue"] for t in tis} == {queue}  # every task went through the Celery queue
    assert all(t["hostname"] for t in tis)
    assert_exact(wh, H0)
    with wh.cursor() as cur:
        cur.execute("SELECT status, run_type FROM ops.job_runs WHERE run_id = 'celery-proof'")
        assert cur.fetchone() == ("success", "manual")
    wh.commit()
    assert RUN_AT - H0 == timedelta(hours=1, minutes=5)
