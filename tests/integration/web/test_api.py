"""The internal API (contract: "Internal API"): in-process with FastAPI's TestClient against
the real test databases, and through the session's real services (api-server, scheduler,
workers) over HTTP, where the run it starts must really run."""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agent_warehouse.signals import score
from agent_warehouse.web.internal_api import app
from support.services import wait_for

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
    set_paused(False)


def set_paused(paused: bool) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == "daily_signal_aggregation").update(
            {DagModel.is_paused: paused}, synchronize_session=False)


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


def post(client, ws=None, pack=None, key=None, headers=AUTH, day=None):
    params = {k: v for k, v in (("workspace_id", ws), ("pack_id", pack), ("day", day)) if v is not None}
    extra = {"X-Idempotency-Key": key} if key else {}
    return client.post("/internal/run_daily_aggregation", params=params, headers={**headers, **extra})


def test_token_missing_wrong_and_unconfigured(client, known, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    assert post(client, known[0], headers={}).status_code == 401
    assert client.get("/internal/job_runs/1").status_code == 401
    assert post(client, known[0], headers={"X-Internal-Token": "nope"}).status_code == 403
    assert client.get("/internal/job_runs/1", headers={"X-Internal-Token": TOKEN + "x"}).status_code == 403
    monkeypatch.setenv("INTERNAL_JOB_TOKEN", "change-me")  # a placeholder is no token
    assert post(client, known[0], headers={"X-Internal-Token": "change-me"}).status_code == 503
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
    # The run finds its row by its own run id: nothing in the conf (an editable form) names a row.
    assert conf == {"workspace_id": known[0], "pack_id": "growth"}
    with wh.cursor() as cur:
        cur.execute("SELECT job_type, dag_id, run_id, workspace_id::text, status, idempotency_key, "
                    "details->>'day' FROM ops.job_runs WHERE id = %s", (body["job_run_id"],))
        job_type, dag_id, row_run_id, ws, status, key, day = cur.fetchone()
    wh.commit()
    assert (job_type, dag_id, row_run_id, ws, status) == (
        "daily_aggregation", "daily_signal_aggregation", run_id, known[0], "queued")
    assert known[0] in key and run_id in key
    assert day == (datetime.now(UTC).date() - timedelta(days=1)).isoformat()  # default: yesterday


def test_day_reaches_any_day_and_a_malformed_day_is_422(client, known):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    assert post(client, known[0], day="2026-13-01").status_code == 422
    assert post(client, known[0], day="yesterday").status_code == 422
    assert dag_runs() == []
    assert post(client, known[0], day="2026-01-05").status_code == 202
    with create_session() as session:
        (run,) = session.query(DagRun).filter(DagRun.dag_id == "daily_signal_aggregation").all()
        # The DAG takes the day before run_after for runs without a logical date: 5 January.
        assert run.logical_date is None
        assert run.run_after == datetime(2026, 1, 6, 0, 30, tzinfo=UTC)


def test_a_paused_dag_answers_409_with_the_reason_and_queues_nothing(client, known, wh):
    set_paused(True)
    try:
        answer = post(client, known[0], key="while-paused")
        assert answer.status_code == 409 and "paused" in answer.json()["detail"]
    finally:
        set_paused(False)
    assert dag_runs() == []
    with wh.cursor() as cur:
        cur.execute("SELECT count(*) FROM ops.job_runs")
        assert cur.fetchone()[0] == 0
    wh.commit()
    assert post(client, known[0], key="while-paused").status_code == 202  # the key was not burned


class Crash(BaseException):
    """The worker dies between the commit of the queued row and the trigger."""


def test_a_crash_between_commit_and_trigger_does_not_burn_the_key(client, known, monkeypatch, wh):
    from agent_warehouse.web import internal_api

    real_trigger = internal_api._trigger

    def crash(*args, **kwargs):
        raise Crash()

    monkeypatch.setattr(internal_api, "_trigger", crash)
    with pytest.raises(Crash):
        post(client, known[0], key="retry-me", day="2026-01-05")
    assert dag_runs() == []  # the row is committed, queued, and no run exists
    monkeypatch.setattr(internal_api, "_trigger", real_trigger)

    replay = post(client, known[0], key="retry-me", day="2026-01-05")
    assert replay.status_code == 200 and replay.json()["status"] == "queued"
    (run_id, conf, _), = dag_runs()
    assert conf == {"workspace_id": known[0], "pack_id": None}
    with wh.cursor() as cur:
        cur.execute("SELECT id, run_id FROM ops.job_runs")
        assert cur.fetchall() == [(replay.json()["job_run_id"], run_id)]
    wh.commit()
    again = post(client, known[0], key="retry-me", day="2026-01-05")
    assert again.status_code == 200 and again.json() == replay.json()
    assert len(dag_runs()) == 1  # never a second run


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


def test_concurrent_calls_with_one_key_start_one_run(client, known):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(client, known[0], key="burst"), range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [202]
    assert len({a.json()["job_run_id"] for a in answers}) == 1
    assert len(dag_runs()) == 1


@pytest.mark.services
def test_api_runs_really_run_on_the_scheduler(wh, known):
    """Through the session's real services: 401/403/422, then a run the scheduler executes:
    queued -> running -> success with counts; a replay answers the result; paused gives 409."""
    from agent_warehouse.signals import ingest, pipeline
    from support.services import shared_stack

    stack = shared_stack()
    provider = ingest.REGISTRY["synthetic"]()
    for days_before in range(5, 0, -1):  # a baseline for the velocities
        ingest.ingest(wh, *pipeline.day_bounds(date(2026, 1, 5) - timedelta(days=days_before)), providers=[provider])
    auth = {"X-Internal-Token": stack.token}
    url = f"{stack.base}/internal/run_daily_aggregation"
    params = {"workspace_id": known[0], "day": "2026-01-05"}
    assert httpx.post(url, params=params, timeout=30).status_code == 401
    assert httpx.post(url, params=params, headers={"X-Internal-Token": "x"}, timeout=30).status_code == 403
    assert httpx.post(url, params={"workspace_id": "nope"}, headers=auth, timeout=30).status_code == 422

    answer = httpx.post(url, params=params, headers={**auth, "X-Idempotency-Key": "e2e"}, timeout=30)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert set(body) == SHAPE and body["status"] == "queued"
    seen = []

    def done() -> dict | None:
        got = httpx.get(f"{stack.base}/internal/job_runs/{body['job_run_id']}", headers=auth, timeout=30).json()
        if not seen or seen[-1] != got["status"]:
            seen.append(got["status"])
        assert got["status"] != "failed", (got, stack.logs())
        return got if got["status"] == "success" else None

    result = wait_for(done, 240, "the API's run to succeed", interval=0.5)
    assert seen[0] == "queued" and seen[-1] == "success" and set(seen) <= {"queued", "running", "success"}
    assert result["inserted"] > 0 and result["companies_scored"] > 0 and result["ranked_count"] > 0
    assert result["error"] is None
    # The DAG run itself ends in success too (its last task may still run when the row is done).
    wait_for(lambda: stack.meta("SELECT state FROM dag_run WHERE dag_id = 'daily_signal_aggregation' "
                                "AND run_id LIKE 'api__%%'") == [("success",)], 120, "the DAG run to succeed")
    with wh.cursor() as cur:
        cur.execute("SELECT count(*) FROM ops.job_runs WHERE dag_id = 'daily_signal_aggregation'")
        assert cur.fetchone()[0] == 1  # the run used the API's row, not one of its own
    wh.commit()
    replay = httpx.post(url, params=params, headers={**auth, "X-Idempotency-Key": "e2e"}, timeout=30)
    assert replay.status_code == 200 and replay.json() == result, replay.text

    stack.api.patch("/api/v2/dags/daily_signal_aggregation", json={"is_paused": True}).raise_for_status()
    try:
        paused = httpx.post(url, params=params, headers=auth, timeout=30)
        assert paused.status_code == 409 and "paused" in paused.json()["detail"]
    finally:
        stack.api.patch("/api/v2/dags/daily_signal_aggregation", json={"is_paused": False}).raise_for_status()


def test_granular_endpoints_start_runs_of_their_step_only(client, known, wh):
    """run_ingest (an hour, default the last closed one), run_derive and run_score (a day):
    the same token, idempotency and answer; each run's conf names its step."""
    hour = "2026-01-05T10:00:00+00:00"
    ingest = client.post("/internal/run_ingest", params={"hour": hour}, headers={**AUTH, "X-Idempotency-Key": "k1"})
    derive = client.post("/internal/run_derive", params={"day": "2026-01-05"},
                         headers={**AUTH, "X-Idempotency-Key": "k1"})
    scored = client.post("/internal/run_score", params={"workspace_id": known[0], "day": "2026-01-05"}, headers=AUTH)
    for answer in (ingest, derive, scored):
        assert answer.status_code == 202 and set(answer.json()) == SHAPE and answer.json()["status"] == "queued"
    # One key on two endpoints is two jobs; the same key on the same endpoint is the same job.
    assert ingest.json()["job_run_id"] != derive.json()["job_run_id"]
    again = client.post("/internal/run_ingest", params={"hour": hour}, headers={**AUTH, "X-Idempotency-Key": "k1"})
    assert again.status_code == 200 and again.json()["job_run_id"] == ingest.json()["job_run_id"]
    confs = {run_id.split("__")[0]: conf for run_id, conf, _ in dag_runs("api_")}
    assert confs == {
        "api_ingest": {"workspace_id": None, "pack_id": None, "steps": ["ingest"], "hour": hour},
        "api_derive": {"workspace_id": None, "pack_id": None, "steps": ["derive"]},
        "api_score": {"workspace_id": known[0], "pack_id": None, "steps": ["score"]},
    }
    # No token, a half hour, an hour without a time zone, a malformed workspace.
    assert client.post("/internal/run_derive").status_code == 401
    assert client.post("/internal/run_ingest", params={"hour": "2026-01-05T10:30:00+00:00"},
                       headers=AUTH).status_code == 422
    assert client.post("/internal/run_ingest", params={"hour": "2026-01-05T10:00:00"}, headers=AUTH).status_code == 422
    assert client.post("/internal/run_score", params={"workspace_id": "nope"}, headers=AUTH).status_code == 422


# -- Bounds and replays (issue 17 §6): checked before anything is written -------------------

def written(wh) -> tuple[int, int]:
    """(audit rows, DAG runs of the signal DAG): what a refused call must not change."""
    with wh.cursor() as cur:
        cur.execute("SELECT count(*) FROM ops.job_runs")
        (rows,) = cur.fetchone()
    wh.commit()
    return rows, len(dag_runs("api"))


def _today() -> date:
    return datetime.now(UTC).date()


DAYS = st.one_of(
    st.dates().map(date.isoformat),  # years 1 to 9999
    st.sampled_from(["2999-01-01", "9999-12-31", "0001-01-01", "1999-12-31", "2000-01-01", "2026-02-29",
                     "2026-13-01", "yesterday", "", " ", "2026-1-5", "20260105", "2026-01-05T00:00",
                     "1767600000", "-2026-01-05", "+02026-01-05", "２０２６-01-05", "2026-01-05\x00"]),
    st.text(max_size=30),
)
OFFSET = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda m: f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}")
IN_RANGE_HOURS = st.tuples(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 1, 1)),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1), st.sampled_from([0, 0, 0, 30])).map(
    lambda t: (t[0].replace(minute=t[2], second=0, microsecond=0, tzinfo=UTC)
               .astimezone(timezone(timedelta(minutes=t[1]))).isoformat()))
HOURS = st.one_of(
    IN_RANGE_HOURS,
    st.tuples(st.datetimes(), st.sampled_from(["", "Z", " 00:00", "+99:99"]) | OFFSET).map(
        lambda t: t[0].replace(minute=0, second=0, microsecond=0).isoformat() + t[1]),
    st.sampled_from(["0001-01-01T00:00+05:00", "9999-12-31T23:00-05:00", "9999-12-31T23:00:00+00:00",
                     "2026-01-05T10:30:00+00:00", "2026-01-05T10:00:00", "2999-01-01T00:00:00Z",
                     "2026-01-05T10:00:00+00:00", "2026-01-05T15:30:00+05:30", "now", "", "1767600000"]),
    st.text(max_size=40),
)
ENDPOINTS = {"/internal/run_daily_aggregation": "day", "/internal/run_derive": "day",
             "/internal/run_score": "day", "/internal/run_ingest": "hour"}


def expected_day(text: str) -> date | None:
    """The oracle: the days the API must accept (docs/signals.md "Internal API")."""
    import re

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if date(2000, 1, 1) <= day < _today() else None


@settings(max_examples=int(os.environ.get("API_BOUNDS_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(endpoint=st.sampled_from(sorted(ENDPOINTS)), day=DAYS, hour=HOURS, key=st.none() | st.just("k"))
def test_any_day_or_hour_gives_202_or_a_422_naming_it_and_never_writes_on_422(client, known, wh, endpoint,
                                                                              day, hour, key):
    field = ENDPOINTS[endpoint]
    value = day if field == "day" else hour
    params = {field: value, **({"workspace_id": known[0]} if endpoint.endswith("score") else {})}
    before = written(wh)
    headers = {**AUTH, **({"X-Idempotency-Key": f"{key}-{uuid.uuid4()}"} if key else {})}
    answer = client.post(endpoint, params=params, headers=headers)
    assert answer.status_code in (202, 422), (answer.status_code, answer.text)
    event(f"{field}: {answer.status_code}")
    if answer.status_code == 422:
        detail = answer.json()["detail"]
        assert written(wh) == before  # nothing written, no key burned
        if isinstance(detail, str):  # our own message: the field and the supported range
            assert field in detail and "2000-01-01" in detail
    if field == "day":
        assert (answer.status_code == 202) == (expected_day(value) is not None), (value, answer.text)
    else:
        hour = expected_hour(value)
        assert (answer.status_code == 202) == (hour is not None), (value, answer.text)
        if hour is not None:  # the run takes that hour, in UTC
            assert hour.isoformat() in [conf["hour"] for _, conf, _ in dag_runs("api_ingest")]


def expected_hour(text: str) -> datetime | None:
    """The oracle: the hours the API must accept (ISO 8601 with an offset, a UTC clock hour,
    closed, from 2000-01-01)."""
    import re

    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)(Z|[+\- ]\d{2}:\d{2})", text)
    if not match:
        return None
    try:
        hour = datetime.fromisoformat(match.group(1) + match.group(4).replace(" ", "+"))
    except ValueError:
        return None
    last_closed = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    if not datetime(2000, 1, 1, tzinfo=UTC) <= hour <= last_closed:
        return None
    hour = hour.astimezone(UTC)
    return hour if (hour.minute, hour.second, hour.microsecond) == (0, 0, 0) else None


def test_the_seen_extremes_answer_422_before_anything_is_written(client, known, wh):
    for endpoint, params, field in [
        ("/internal/run_daily_aggregation", {"day": "2999-01-01"}, "day"),  # was 202, a run that never starts
        ("/internal/run_daily_aggregation", {"day": "9999-12-31"}, "day"),  # was 503 after the commit
        ("/internal/run_ingest", {"hour": "0001-01-01T00:00+05:00"}, "hour"),  # was 500
        ("/internal/run_ingest", {"hour": "9999-12-31T23:00-05:00"}, "hour"),
        ("/internal/run_derive", {"day": _today().isoformat()}, "day"),  # not over yet: would wait
    ]:
        answer = client.post(endpoint, params={**params, "workspace_id": known[0]},
                             headers={**AUTH, "X-Idempotency-Key": "extreme"})
        assert answer.status_code == 422, (params, answer.text)
        assert field in answer.json()["detail"] and "2000-01-01" in answer.json()["detail"]
    assert written(wh) == (0, 0)
    # The key was not burned: a valid call with it starts its run.
    assert post(client, known[0], key="extreme", day="2026-01-05").status_code == 202


# (endpoint, first call's params, replay's params, the field the 409 names or None for a 200)
REPLAYS = [
    ("/internal/run_daily_aggregation", {"day": "2026-01-05"}, {"day": "2026-01-05"}, None),
    ("/internal/run_daily_aggregation", {"day": "2026-01-05"}, {"day": "2026-01-06"}, "day"),
    ("/internal/run_daily_aggregation", {"day": "2026-01-05"}, {}, "day"),  # the default is yesterday
    ("/internal/run_daily_aggregation", {"day": "2026-01-05"}, {"day": "2026-01-05", "pack_id": "growth"},
     "pack_id"),
    ("/internal/run_daily_aggregation", {"pack_id": "growth", "day": "2026-01-05"},
     {"pack_id": "default", "day": "2026-01-05"}, "pack_id"),
    ("/internal/run_score", {"day": "2026-01-05"}, {"day": "2026-02-05"}, "day"),
    ("/internal/run_derive", {"day": "2026-01-05"}, {"day": "2026-01-05"}, None),
    ("/internal/run_derive", {"day": "2026-01-05"}, {"day": "2025-01-05"}, "day"),
    ("/internal/run_ingest", {"hour": "2026-01-05T10:00:00+00:00"}, {"hour": "2026-01-05T15:30:00+05:30"}, None),
    ("/internal/run_ingest", {"hour": "2026-01-05T10:00:00+00:00"}, {"hour": "2026-01-05T11:00:00Z"}, "hour"),
]


@pytest.mark.parametrize(("endpoint", "first", "replay", "differs"), REPLAYS)
def test_a_key_replayed_with_other_parameters_answers_409_naming_them(client, known, wh, endpoint, first,
                                                                     replay, differs):
    ws = {"workspace_id": known[0]} if "ingest" not in endpoint and "derive" not in endpoint else {}
    headers = {**AUTH, "X-Idempotency-Key": "replayed"}
    one = client.post(endpoint, params={**ws, **first}, headers=headers)
    assert one.status_code == 202, one.text
    before = written(wh)
    two = client.post(endpoint, params={**ws, **replay}, headers=headers)
    assert written(wh) == before  # never a second job or run
    if differs is None:
        assert two.status_code == 200 and two.json()["job_run_id"] == one.json()["job_run_id"]
    else:
        assert two.status_code == 409, two.text
        detail = two.json()["detail"]
        assert f"{differs}=" in detail and "replayed" in detail
        assert [name for name in ("day=", "pack_id=", "hour=") if name in detail] == [f"{differs}="]
