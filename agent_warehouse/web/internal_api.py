"""The internal API (contract: "Internal API"), served by the Airflow api-server under
``/internal`` through the project's plugin.

``POST /internal/run_daily_aggregation?workspace_id=<uuid>&pack_id=<id>&day=<YYYY-MM-DD>``
starts a run of ``daily_signal_aggregation`` for the day (default yesterday, UTC) that the
scheduler executes; ``GET /internal/job_runs/{job_run_id}`` reports on it. A paused DAG
answers 409: its run would never start. The granular mode, ``POST /internal/run_ingest``
(``hour``, default the last closed one), ``run_derive`` (``day``) and ``run_score``
(``workspace_id``, ``pack_id``, ``day``), starts runs of the same DAG that execute only that
step, with the same token, idempotency and answer.

Airflow does not authenticate plugin apps, so every call must carry ``X-Internal-Token``
equal to ``INTERNAL_JOB_TOKEN`` (environment, else the Airflow Variable of that name),
compared in constant time and never logged. ``X-Idempotency-Key`` is scoped to the
workspace: the audit row's ``idempotency_key`` and the DAG run's ``run_id`` are derived
from (workspace, key), and the row is inserted (under the run id) before the run is
triggered, so the same key and workspace always answer with the same ``job_run_id`` and never
start a second run. The run claims the row by its run id (nothing in the run's conf names
it). A replay whose row has no DAG run (the first call died between its commit and its
trigger) starts that run: the run id is deterministic, so it is started at most once.
The same key with other parameters (day, hour, pack) answers 409 naming the difference.

``day`` and ``hour`` are checked before anything is written: a day must be a closed UTC day
from SUPPORTED_FROM to yesterday, an hour a closed UTC clock hour from SUPPORTED_FROM on;
anything else (a malformed string, year 9999, a day not over yet whose run would wait until
it is) answers 422 naming the field and the range.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.responses import JSONResponse

from agent_warehouse.web import airflow_adapter

if TYPE_CHECKING:
    from agent_warehouse.db import Connection

log = logging.getLogger(__name__)

DAG_ID = "daily_signal_aggregation"
TOKEN_SETTING = "INTERNAL_JOB_TOKEN"
# The first day a run may be asked for: the first time a signal may be observed (docs/signals.md).
SUPPORTED_FROM = date(2000, 1, 1)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# An ISO 8601 time with an offset; a space before the offset is a "+" the query string decoded.
_HOUR = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(Z|[+\- ]\d{2}:\d{2})?")


# Values copied from examples: a token anyone can guess is no token (503, as when unset).
PLACEHOLDER_TOKENS = frozenset({"change-me", "changeme", "change_me", "secret", "token", "placeholder"})


def configured_token() -> str | None:
    """The token from the environment, else the Airflow Variable; None when neither is set
    or the value is a placeholder."""
    token = os.environ.get(TOKEN_SETTING)
    if not token:
        try:
            from airflow.models.variable import Variable

            token = Variable.get(TOKEN_SETTING, default_var=None)
        except Exception:  # no metadata database reachable: treat as not configured
            log.warning("could not read the %s Airflow Variable", TOKEN_SETTING)
            return None
    if token and token.strip().lower() in PLACEHOLDER_TOKENS:
        log.warning("%s is a placeholder value: the internal API refuses every call", TOKEN_SETTING)
        return None
    return token or None


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
    """The warehouse through Airflow's ``warehouse`` connection (environment, secrets backend or
    metadata database), with the package's timeouts: the hook's own connection, no URI parsing."""
    from agent_warehouse.db import hook_connection

    return hook_connection()


def _body(row: tuple[Any, ...]) -> dict[str, Any]:
    job_id, status, inserted, scored, ranked, error = row[:6]
    return {"status": status, "job_run_id": job_id, "inserted": inserted, "companies_scored": scored,
            "ranked_count": ranked, "error": error}


def run_identity(workspace_id: str | None, idempotency_key: str | None,
                 kind: str = "aggregation") -> tuple[str, str]:
    """(DAG run id, audit idempotency key), both derived from workspace, key and endpoint.

    Without a key every call gets a fresh run id. The client's key is hashed so any
    string is safe in a run id; the workspace is part of the hash and of the id, and so is
    the granular endpoint (``kind``), so one key on two endpoints is two jobs.
    """
    from agent_warehouse.db import audit

    scope = workspace_id or "all"
    prefix = "api" if kind == "aggregation" else f"api_{kind}"
    if idempotency_key is None:
        suffix = uuid.uuid4().hex
    else:
        salt = "" if kind == "aggregation" else f"{kind}\n"  # aggregation keys as they always were
        suffix = hashlib.sha256(f"{salt}{scope}\n{idempotency_key}".encode()).hexdigest()[:32]
    run_id = f"{prefix}__{scope}__{suffix}"
    return run_id, audit.run_key(DAG_ID, run_id, workspace_id)


def run_after(day: date) -> datetime:
    """When a run for ``day`` counts as started: 00:30 UTC the next day, as scheduled. The DAG
    takes the day before run_after for runs without a logical date."""
    return datetime.combine(day + timedelta(days=1), time(0, 30), tzinfo=UTC)


def _trigger(run_id: str, conf: dict[str, Any], day: date) -> None:
    """Start the DAG run (the scheduler executes it); an existing run of that id is the run."""
    airflow_adapter.trigger(DAG_ID, run_id, conf, run_after(day), user="internal_api")


def _start(conn: Connection, job_id: int, run_id: str, conf: dict[str, Any], day: date, replayable: bool) -> None:
    """Trigger the run of a queued row. A failure leaves a keyed row queued, so the client's
    retry with the same key starts it; a row without a key (nobody can retry it) fails."""
    from agent_warehouse.db import audit

    try:
        _trigger(run_id, conf, day)
    except Exception as exc:
        log.exception("could not trigger %s", DAG_ID)
        if not replayable:
            audit.fail_unstarted_job(conn, job_id, f"could not start {DAG_ID}: {type(exc).__name__}")
        raise HTTPException(503, f"could not start {DAG_ID}: {type(exc).__name__}") from None


def queue_run(kind: str, day: date, workspace_id: str | None, pack_id: str | None,
              x_idempotency_key: str | None, conf_extra: dict[str, Any] | None = None) -> JSONResponse:
    """Create the audit row under the run id, then trigger that run (the shared path of every
    POST). ``kind`` scopes the idempotency key: the same key on two endpoints is two jobs."""
    from agent_warehouse.db import audit
    from agent_warehouse.signals import score

    known, paused = airflow_adapter.dag_state(DAG_ID)
    if not known:
        raise HTTPException(503, f"{DAG_ID} is not in Airflow yet (the dag-processor has not parsed it)")
    if paused:  # a run of a paused DAG would stay queued for ever
        raise HTTPException(409, f"{DAG_ID} is paused: unpause it (UI, or `airflow dags unpause {DAG_ID}`); "
                                 "nothing was queued")
    conn = _connect()
    try:
        try:
            score.resolve_pack(conn, workspace_id, pack_id)
        except (score.UnknownWorkspace, score.UnknownPack) as exc:
            raise HTTPException(404, str(exc)) from None
        run_id, key = run_identity(workspace_id, x_idempotency_key, kind)
        conf = {"workspace_id": workspace_id, "pack_id": pack_id, **(conf_extra or {})}
        # "request" is what this call asked for, kept apart: the run later merges its own
        # details (the pack it resolved) into the row, and a replay is compared with the request.
        details = {"pack_id": pack_id, "day": day.isoformat(), "conf": conf,
                   "request": {"pack_id": pack_id, "day": day.isoformat()}}
        # Committed before the trigger: the run claims this row by its run id.
        job_id = audit.queue_job(conn, dag_id=DAG_ID, run_id=run_id, key=key, workspace_id=workspace_id,
                                 details=details)
        if job_id is None:  # same key and workspace: the existing job, never a second run
            row = audit.job_by_key(conn, key)  # inserted or kept by queue_job just now
            job_id, status, *_, run_id, ws, pack, first_day, first_conf = row
            _same_parameters(x_idempotency_key, first={"day": first_day, "pack_id": pack,
                                                       "hour": (first_conf or {}).get("hour")},
                             now={"day": day.isoformat(), "pack_id": pack_id, "hour": conf.get("hour")})
            if status == "queued" and not airflow_adapter.dag_run_exists(DAG_ID, run_id):
                # The first call died between its commit and its trigger: start that run now.
                _start(conn, job_id, run_id, first_conf or {"workspace_id": ws, "pack_id": pack},
                       date.fromisoformat(first_day) if first_day else day, replayable=True)
            return JSONResponse(_body(row), status_code=200)
        _start(conn, job_id, run_id, conf, day, replayable=x_idempotency_key is not None)
        created = audit.job_by_id(conn, job_id)
        if created is None:  # it was inserted above, and nothing deletes a queued row
            raise HTTPException(500, f"job run {job_id} vanished")
        return JSONResponse(_body(created), status_code=202)
    finally:
        conn.close()


def _same_parameters(key: str | None, *, first: dict[str, Any], now: dict[str, Any]) -> None:
    """409 when a replayed key comes with other parameters than its first call: answering with
    the first job would silently do something else than asked."""
    differ = [f"{name}={first[name]!r} (this call: {now[name]!r})" for name in first if first[name] != now[name]]
    if differ:
        raise HTTPException(409, f"X-Idempotency-Key {(key or '')[:64]!r} was first used with "
                                 f"{', '.join(differ)}: use a new key for other parameters")


def _workspace(workspace_id: str | None) -> str | None:
    from agent_warehouse.signals import score

    if workspace_id is None:
        return None
    try:
        return score.parse_workspace(workspace_id)
    except ValueError:
        raise HTTPException(422, f"workspace_id is not a uuid: {workspace_id[:64]!r}") from None


def _yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def _last_closed_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def parse_day(text: str | None) -> date:
    """The ``day`` query parameter: a closed UTC day in the supported range, else 422 (checked
    before anything is written; a day not over yet would give a run that waits until it is)."""
    if text is None:
        return _yesterday()
    latest = _yesterday()
    expected = f"a closed UTC day from {SUPPORTED_FROM} to {latest} (YYYY-MM-DD)"
    try:
        day = date.fromisoformat(text) if _DAY.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        raise HTTPException(422, f"day must be {expected}, not {text[:64]!r}")
    if not SUPPORTED_FROM <= day <= latest:
        raise HTTPException(422, f"day {day} is outside the supported range: {expected}")
    return day


def parse_hour(text: str | None) -> datetime:
    """The ``hour`` query parameter: a closed UTC clock hour with its offset, in the supported
    range, else 422. Compared before any conversion (near years 1 and 9999 one overflows)."""
    latest = _last_closed_hour()
    if text is None:
        return latest
    expected = (f"a closed UTC clock hour with its offset, from {SUPPORTED_FROM}T00:00:00+00:00 "
                f"to {latest.isoformat()}")
    match = _HOUR.fullmatch(text)
    if match and match.group(2) is None:
        raise HTTPException(422, f"hour needs a time zone, e.g. 2026-01-05T10:00:00+00:00: {expected}")
    try:
        offset = match.group(2).replace(" ", "+") if match else ""
        hour = datetime.fromisoformat(match.group(1) + offset) if match else None
    except ValueError:
        hour = None
    if hour is None:
        raise HTTPException(422, f"hour must be {expected}, not {text[:64]!r}")
    if not datetime.combine(SUPPORTED_FROM, time(), tzinfo=UTC) <= hour <= latest:
        raise HTTPException(422, f"hour {text[:64]} is outside the supported range: {expected}")
    hour = hour.astimezone(UTC)
    if (hour.minute, hour.second, hour.microsecond) != (0, 0, 0):
        raise HTTPException(422, f"hour must be a clock hour in UTC, not {hour.isoformat()}: {expected}")
    return hour


@app.post("/run_daily_aggregation")
def run_daily_aggregation(
    workspace_id: str | None = Query(default=None),
    pack_id: str | None = Query(default=None),
    day: Annotated[str | None, Query()] = None,  # the UTC day to aggregate (YYYY-MM-DD); default yesterday
    x_idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    """Ingest, derive, score and rank a day: a whole run of the DAG."""
    return queue_run("aggregation", parse_day(day), _workspace(workspace_id), pack_id, x_idempotency_key)


# The seed's granular mode: each endpoint starts a run of the same DAG that executes only its
# step (the DAG's `steps` param); the other steps' tasks succeed doing nothing.
@app.post("/run_ingest")
def run_ingest(
    hour: Annotated[str | None, Query()] = None,  # the UTC hour to ingest; default the last closed one
    x_idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    """Every configured provider for one hour ``[hour, hour + 1h)``."""
    start = parse_hour(hour)
    return queue_run("ingest", start.date(), None, None, x_idempotency_key,
                     {"steps": ["ingest"], "hour": start.isoformat()})


@app.post("/run_derive")
def run_derive(
    day: Annotated[str | None, Query()] = None,  # YYYY-MM-DD, default yesterday, UTC
    x_idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    """Per-company features of a day from the ingested signals."""
    return queue_run("derive", parse_day(day), None, None, x_idempotency_key, {"steps": ["derive"]})


@app.post("/run_score")
def run_score(
    workspace_id: str | None = Query(default=None),
    pack_id: str | None = Query(default=None),
    day: Annotated[str | None, Query()] = None,  # YYYY-MM-DD, default yesterday, UTC
    x_idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    """Scores and the ranked list of a day, from features already derived."""
    return queue_run("score", parse_day(day), _workspace(workspace_id), pack_id, x_idempotency_key,
                     {"steps": ["score"]})


@app.get("/job_runs/{job_run_id}")
def job_run(job_run_id: int) -> dict[str, Any]:
    from agent_warehouse.db import audit

    conn = _connect()
    try:
        row = audit.job_by_id(conn, job_run_id)
    finally:
        conn.close()
    if row is None:
        raise HTTPException(404, f"no daily_aggregation job run {job_run_id}")
    return _body(row)
