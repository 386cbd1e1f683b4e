"""The internal API (contract: "Internal API"): in-process with FastAPI's TestClient against
the real test databases, and once through a real ``airflow api-server`` over HTTP."""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent_warehouse.signals import score
from agent_warehouse.web.internal_api import app
from support.services import Api, free_port, services, wait_for

TOKEN = "test-token-9f1c"
AUTH = {"X-Internal-Token": TOKEN}
SHAPE = {"status", "job_run_id", "inserted", "companies_scored", "ranked_count", "error"}


@pytest.fixture(scope="module")
def dag_in_db(dagbag):
    """daily_signal_aggregation serialized into the test metadata database (trigger_dag needs it)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(dagbag, "dags-folder", None)


@pytest.fixture(autouse=True)
def no_api_runs(airflow_db):
    """Each test starts without DAG runs from earlier API calls (the metadata DB is per session)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        for run in session.query(DagRun).filter(DagRun.dag_id == "daily_signal_aggregation"):
            session.delete(run)


@pytest.fixture()
def client(wh, dag_in_db, monkeypatch):
    monkeypatch.setenv("INTERNAL_JOB_TOKEN", TOKEN)
    root = FastAPI()
    root.mount("/internal", app)  # where the plugin mounts it in the api-server
    return TestClient(root)


@pytest.fixture()
def known(wh):
    ids = [str(uuid.uuid4()) for _ in range(2)]
    for ws in ids:
        score.register_workspace(wh, ws)
    return ids


def dag_runs(run_id_prefix: str = "api__") -> list:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == "daily_signal_aggregation",
                                            DagRun.run_id.like(f"{run_id_prefix}%")).all()
        return [(r.run_id, r.conf, r.state) for r in runs]


def post(client, ws=None, pack=None, key=None, headers=AUTH):
    params = {k: v for k, v in (("workspace_id", ws), ("pack_id", pack)) if v is not None}
    extra = {"X-Idempotency-Key": key} if key else {}
    return client.post("/internal/run_daily_aggregation", params=params, headers={**headers, **extra})


def test_token_missing_wrong_and_unconfigured(client, known, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    assert post(client, known[0], headers={}).status_code == 401
    assert client.get("/internal/job_runs/1").status_code == 401
    assert post(client, known[0], headers={"X-Internal-Token": "nope"}).status_code == 403
    assert client.get("/internal/job_runs/1", headers={"X-Internal-Token": TOKEN + "x"}).status_code == 403
    monkeypatch.delenv("INTERNAL_JOB_TOKEN")
    for headers in ({}, AUTH, {"X-Internal-Token": ""}):
        assert post(client, known[0], headers=headers).status_code == 503
        assert client.get("/internal/job_runs/1", headers=headers).status_code == 503
    assert post(client, "not-a-uuid", headers={}).status_code == 503  # the token check comes first
    assert TOKEN not in caplog.text
    assert dag_runs() == []


def test_token_from_an_airflow_variable(client, known, monkeypatch):
    from airflow.models.variable import Variable

    monkeypatch.delenv("INTERNAL_JOB_TOKEN")
    Variable.set("INTERNAL_JOB_TOKEN", "from-variable")
    try:
        assert client.get("/internal/job_runs/1", headers={"X-Internal-Token": "from-variable"}).status_code == 404
        assert client.get("/internal/job_runs/1", headers=AUTH).status_code == 403
    finally:
        Variable.delete("INTERNAL_JOB_TOKEN")


def test_malformed_workspace_422_unknown_workspace_or_pack_404(client, known):
    assert post(client, "not-a-uuid").status_code == 422
    assert post(client, known[0] + "0").status_code == 422
    unknown = post(client, str(uuid.uuid4()))
    assert unknown.status_code == 404 and "unknown workspace" in unknown.json()["detail"]
    bad_pack = post(client, known[0], pack="nosuchpack")
    assert bad_pack.status_code == 404 and "nosuchpack" in bad_pack.json()["detail"]
    assert post(client, None, pack="nosuchpack").status_code == 404
    assert client.get("/internal/job_runs/999999", headers=AUTH).status_code == 404
    assert client.get("/internal/job_runs/abc", headers=AUTH).status_code == 422
    assert dag_runs() == []


def test_post_queues_a_run_with_its_audit_row_and_the_contract_shape(client, known, wh):
    answer = post(client, known[0], pack="growth")
    assert answer.status_code == 202
    body = answer.json()
    assert set(body) == SHAPE
    assert body["status"] == "queued" and isinstance(body["job_run_id"], int)
    assert client.get(f"/internal/job_runs/{body['job_run_id']}", headers=AUTH).json() == body
    (run_id, conf, _state), = dag_runs()
    assert conf == {"workspace_id": known[0], "pack_id": "growth", "job_run_id": body["job_run_id"]}
    with wh.cursor() as cur:
        cur.execute("SELECT job_type, dag_id, run_id, workspace_id::text, status, idempotency_key "
                    "FROM ops.job_runs WHERE id = %s", (body["job_run_id"],))
        job_type, dag_id, row_run_id, ws, status, key = cur.fetchone()
    wh.commit()
    assert (job_type, dag_id, row_run_id, ws, status) == (
        "daily_aggregation", "daily_signal_aggregation", run_id, known[0], "queued")
    assert known[0] in key and run_id in key


def test_idempotency_key_is_scoped_to_the_workspace(client, known):
    first = post(client, known[0], key="nightly-42").json()
    again = post(client, known[0], key="nightly-42")
    assert again.status_code == 200 and again.json() == first
    other = post(client, known[1], key="nightly-42").json()
    assert other["job_run_id"] != first["job_run_id"]
    everyone = post(client, None, key="nightly-42").json()
    assert everyone["job_run_id"] not in (first["job_run_id"], other["job_run_id"])
    unkeyed = [post(client, known[0]).json()["job_run_id"] for _ in range(2)]
    assert len(set(unkeyed) | {first["job_run_id"]}) == 3
    runs = dag_runs()
    assert len(runs) == 5 and len({r[0] for r in runs}) == 5  # never a second run for a key


def execute_like_the_api_run(dagbag, monkeypatch, conf):
    """A real dag.test() run with the queued run's conf and, like it, no logical date: the
    day comes from run_after (00:30 on 6 January: 5 January)."""
    dag = dagbag.get_dag("daily_signal_aggregation")
    monkeypatch.setattr(dag, "deadline", None)
    return dag.test(logical_date=None, run_after=datetime(2026, 1, 6, 0, 30, tzinfo=UTC), run_conf=conf)


def test_concurrent_calls_with_one_key_start_one_run(client, known):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(client, known[0], key="burst"), range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [202]
    assert len({a.json()["job_run_id"] for a in answers}) == 1
    assert len(dag_runs()) == 1


def test_the_run_updates_the_api_row_and_get_returns_counts(client, known, dagbag, monkeypatch, wh):
    """The queued run's conf, executed by a real dag.test() run, fills the API's own row."""
    from test_signals import seed_history

    monkeypatch.setenv("AGENT_WAREHOUSE_SIGNALS_PROVIDERS", "synthetic")
    seed_history(wh, 5)
    body = post(client, known[1], key="k").json()
    (_, conf, _), = dag_runs()
    dr = execute_like_the_api_run(dagbag, monkeypatch, conf)
    assert dr.state == "success"
    done = client.get(f"/internal/job_runs/{body['job_run_id']}", headers=AUTH).json()
    assert done["status"] == "success" and done["error"] is None
    assert done["inserted"] > 0 and done["companies_scored"] == 20 and done["ranked_count"] == 20
    with wh.cursor() as cur:
        cur.execute("SELECT count(*) FROM ops.job_runs")
        assert cur.fetchone()[0] == 1  # the run used the API's row, not one of its own
    wh.commit()
    assert post(client, known[1], key="k").json() == done  # the same key answers with the result


def test_a_run_over_every_workspace_fills_the_api_row_with_totals(client, known, dagbag, monkeypatch, wh):
    monkeypatch.setenv("AGENT_WAREHOUSE_SIGNALS_PROVIDERS", "synthetic")
    body = post(client, None, pack="growth").json()
    (_, conf, _), = dag_runs()
    assert conf == {"workspace_id": None, "pack_id": "growth", "job_run_id": body["job_run_id"]}
    assert execute_like_the_api_run(dagbag, monkeypatch, conf).state == "success"
    done = client.get(f"/internal/job_runs/{body['job_run_id']}", headers=AUTH).json()
    with wh.cursor() as cur:
        cur.execute("SELECT count(DISTINCT company_id) FROM signals.company_features_daily WHERE day = '2026-01-05'")
        companies = cur.fetchone()[0]
    assert companies > 0 and done["status"] == "success" and done["error"] is None
    assert done["companies_scored"] == companies * len(known) and done["inserted"] > 0
    with wh.cursor() as cur:
        cur.execute("SELECT workspace_id::text, status, details->>'pack_id', period_start FROM ops.job_runs "
                    "WHERE id <> %s ORDER BY 1", (body["job_run_id"],))
        rows = cur.fetchall()
    wh.commit()
    assert rows == [(ws, "success", "growth", datetime(2026, 1, 5, tzinfo=UTC)) for ws in sorted(known)]


def test_real_api_server_over_http(known, dag_in_db, wh, tmp_path):
    port = free_port()
    env = {**os.environ, "INTERNAL_JOB_TOKEN": TOKEN, "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}"}
    command = ["api-server", "--port", str(port), "--host", "127.0.0.1", "--workers", "1"]
    with services([command], env, tmp_path / "logs"):
        wait_for(Api(port).healthy, 60, "the api-server")
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/internal/run_daily_aggregation"
        assert httpx.post(url, params={"workspace_id": known[0]}, timeout=30).status_code == 401
        assert httpx.post(url, params={"workspace_id": known[0]}, headers={"X-Internal-Token": "x"},
                          timeout=30).status_code == 403
        assert httpx.post(url, params={"workspace_id": "nope"}, headers=AUTH, timeout=30).status_code == 422
        answer = httpx.post(url, params={"workspace_id": known[0]},
                            headers={**AUTH, "X-Idempotency-Key": "http-1"}, timeout=30)
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert set(body) == SHAPE and body["status"] == "queued"
        again = httpx.post(url, params={"workspace_id": known[0]},
                           headers={**AUTH, "X-Idempotency-Key": "http-1"}, timeout=30)
        assert again.status_code == 200 and again.json()["job_run_id"] == body["job_run_id"]
        got = httpx.get(f"{base}/internal/job_runs/{body['job_run_id']}", headers=AUTH, timeout=30)
        assert got.status_code == 200 and got.json() == body
        assert len(dag_runs()) == 1
    assert TOKEN not in (tmp_path / "logs" / "api-server.log").read_text()
