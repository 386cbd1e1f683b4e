"""The internal API (contract: "Internal API"), served by the Airflow api-server under
``/internal`` through the project's plugin.

``POST /internal/run_daily_aggregation?workspace_id=<uuid>&pack_id=<id>`` queues a run of
``daily_signal_aggregation``; ``GET /internal/job_runs/{job_run_id}`` reports on it.

Airflow does not authenticate plugin apps, so every call must carry ``X-Internal-Token``
equal to ``INTERNAL_JOB_TOKEN`` (environment, else the Airflow Variable of that name),
compared in constant time and never logged. ``X-Idempotency-Key`` is scoped to the
workspace: the audit row's ``idempotency_key`` and the DAG run's ``run_id`` are derived
from (workspace, key), and the row is inserted before the run is triggered, so the same
key and workspace always answer with the same ``job_run_id`` and never start a second run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import uuid
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)

DAG_ID = "daily_signal_aggregation"
TOKEN_SETTING = "INTERNAL_JOB_TOKEN"


def configured_token() -> str | None:
    """The token from the environment, else the Airflow Variable; None when neither is set."""
    token = os.environ.get(TOKEN_SETTING)
    if token:
        return token
    try:
        from airflow.models.variable import Variable

        return Variable.get(TOKEN_SETTING, default_var=None) or None
    except Exception:  # no metadata database reachable: treat as not configured
        log.warning("could not read the %s Airflow Variable", TOKEN_SETTING)
        return None


def require_token(x_internal_token: str | None = Header(default=None)) -> None:
    expected = configured_token()
    if not expected:
        raise HTTPException(503, f"{TOKEN_SETTING} is not configured")
    if x_internal_token is None:
        raise HTTPException(401, "X-Internal-Token header required")
    if not hmac.compare_digest(x_internal_token.encode(), expected.encode()):
        raise HTTPException(403, "invalid X-Internal-Token")


app = FastAPI(title="agent_warehouse internal API", dependencies=[Depends(require_token)],
              docs_url=None, redoc_url=None, openapi_url=None)


def _connect() -> Any:
    """The warehouse: AIRFLOW_CONN_WAREHOUSE if set, else Airflow's ``warehouse`` connection."""
    from agent_warehouse import settings
    from agent_warehouse.db import connect, dsn_from_airflow_uri

    if os.environ.get("AIRFLOW_CONN_WAREHOUSE"):
        return connect()
    from airflow.models.connection import Connection

    uri = Connection.get_connection_from_secrets(settings.WAREHOUSE_CONN_ID).get_uri()
    return connect(dsn_from_airflow_uri(uri))


_SELECT = """
SELECT id, status, inserted, companies_scored, ranked_count, error
FROM ops.job_runs WHERE {where}
"""
_BY_ID = _SELECT.format(where="id = %(id)s AND job_type = 'daily_aggregation'")
_BY_KEY = _SELECT.format(where="idempotency_key = %(key)s")
_INSERT = """
INSERT INTO ops.job_runs (job_type, dag_id, run_id, workspace_id, status, idempotency_key, run_type,
                          triggered_by, details)
VALUES ('daily_aggregation', %(dag_id)s, %(run_id)s, %(workspace_id)s, 'queued', %(key)s, 'manual',
        'internal_api', %(details)s::jsonb)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
"""


def _body(row: tuple) -> dict[str, Any]:
    job_id, status, inserted, scored, ranked, error = row
    return {"status": status, "job_run_id": job_id, "inserted": inserted, "companies_scored": scored,
            "ranked_count": ranked, "error": error}


def run_identity(workspace_id: str | None, idempotency_key: str | None) -> tuple[str, str]:
    """(DAG run id, audit idempotency key), both derived from workspace and key.

    Without a key every call gets a fresh run id. The client's key is hashed so any
    string is safe in a run id; the workspace is part of the hash and of the id.
    """
    from agent_warehouse.db import audit

    scope = workspace_id or "all"
    if idempotency_key is None:
        suffix = uuid.uuid4().hex
    else:
        suffix = hashlib.sha256(f"{scope}\n{idempotency_key}".encode()).hexdigest()[:32]
    run_id = f"api__{scope}__{suffix}"
    return run_id, audit.run_key(DAG_ID, run_id, workspace_id)


def _trigger(run_id: str, conf: dict[str, Any]) -> None:
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.utils.types import DagRunTriggeredByType

    try:
        # No logical date: runs of several workspaces for the same day must not collide on
        # (dag_id, logical_date); the DAG takes the day before run_after, as a manual run does.
        trigger_dag(DAG_ID, run_id=run_id, conf=conf, logical_date=None,
                    triggered_by=DagRunTriggeredByType.REST_API, triggering_user_name="internal_api")
    except DagRunAlreadyExists:
        log.info("DAG run %s already exists; answering with it", run_id)


@app.post("/run_daily_aggregation")
def run_daily_aggregation(
    workspace_id: str | None = Query(default=None),
    pack_id: str | None = Query(default=None),
    x_idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    from agent_warehouse.db import transaction
    from agent_warehouse.signals import score

    if workspace_id is not None:
        try:
            workspace_id = score.parse_workspace(workspace_id)
        except ValueError:
            raise HTTPException(422, f"workspace_id is not a uuid: {workspace_id[:64]!r}") from None
    conn = _connect()
    try:
        try:
            score.resolve_pack(conn, workspace_id, pack_id)
        except (score.UnknownWorkspace, score.UnknownPack) as exc:
            raise HTTPException(404, str(exc)) from None
        run_id, key = run_identity(workspace_id, x_idempotency_key)
        with transaction(conn) as cur:
            cur.execute(_INSERT, {"dag_id": DAG_ID, "run_id": run_id, "workspace_id": workspace_id,
                                  "key": key, "details": json.dumps({"pack_id": pack_id})})
            created = cur.fetchone()
        if created is None:  # same key and workspace: the existing run, never a second one
            with transaction(conn) as cur:
                cur.execute(_BY_KEY, {"key": key})
                return JSONResponse(_body(cur.fetchone()), status_code=200)
        job_id = created[0]
        try:
            _trigger(run_id, {"workspace_id": workspace_id, "pack_id": pack_id, "job_run_id": job_id})
        except Exception as exc:
            # Forget the row so the client's retry with the same key can start the run.
            with transaction(conn) as cur:
                cur.execute("DELETE FROM ops.job_runs WHERE id = %s AND status = 'queued'", (job_id,))
            log.exception("could not trigger %s", DAG_ID)
            raise HTTPException(503, f"could not start {DAG_ID}: {type(exc).__name__}") from None
        with transaction(conn) as cur:
            cur.execute(_BY_ID, {"id": job_id})
            return JSONResponse(_body(cur.fetchone()), status_code=202)
    finally:
        conn.close()


@app.get("/job_runs/{job_run_id}")
def job_run(job_run_id: int) -> dict[str, Any]:
    from agent_warehouse.db import transaction

    conn = _connect()
    try:
        with transaction(conn) as cur:
            cur.execute(_BY_ID, {"id": job_run_id})
            row = cur.fetchone()
    finally:
        conn.close()
    if row is None:
        raise HTTPException(404, f"no daily_aggregation job run {job_run_id}")
    return _body(row)
