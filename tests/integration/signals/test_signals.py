"""Signal aggregation: the stages, their failure modes and the daily_signal_aggregation DAG,
on the real warehouse and through real Airflow runs; scores checked against a Python oracle."""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from agent_warehouse.signals import derive, ingest, pipeline, score
from agent_warehouse.signals.ingest import SyntheticProvider
from support.checks import fetch
from support.runs import run_dag

DAY = date(2026, 1, 5)
RUN_AT = datetime(2026, 1, 6, 0, 30, tzinfo=UTC)  # the run at 00:30 takes 5 January
WEIGHTS = {"default": {"hiring": 0.3, "funding": 0.25, "traffic": 0.2, "product_launch": 0.15, "mention": 0.1},
           "growth": {"hiring": 0.45, "funding": 0.1, "traffic": 0.35, "product_launch": 0.05, "mention": 0.05}}
BANDS = {"default": {"hot": 60, "warm": 35, "watch": 15}, "growth": {"hot": 65, "warm": 40, "watch": 20}}


class Broken:
    name = "broken"

    def fetch(self, start, end):
        raise ConnectionError("provider API down")


class Slow:
    name = "slow"

    def fetch(self, start, end):
        time.sleep(3)
        return []


class Messy:
    name = "messy"

    def fetch(self, start, end):
        ok = {"external_id": "m-1", "company": "Messy Co", "signal_type": "funding",
              "observed_at": "2026-01-05T10:00:00+00:00", "value": 5}
        return [ok, dict(ok, external_id="m-2", signal_type="rumour"),
                dict(ok, external_id="m-3", observed_at="2026-01-05T10:00:00"),
                dict(ok, external_id="m-4", value="lots"), dict(ok, external_id=""), "not a row",
                dict(ok, external_id="m-5", value=float("nan"))]


@pytest.fixture()
def providers(monkeypatch):
    """Register test providers and choose which ones a run calls (in-process runs read the env)."""
    monkeypatch.setitem(ingest.REGISTRY, "broken", Broken)
    monkeypatch.setitem(ingest.REGISTRY, "slow", Slow)
    monkeypatch.setitem(ingest.REGISTRY, "messy", Messy)
    monkeypatch.setenv("AGENT_WAREHOUSE_SIGNALS_PROVIDER_TIMEOUT_SECONDS", "1")

    def use(names: str) -> None:
        monkeypatch.setenv("AGENT_WAREHOUSE_SIGNALS_PROVIDERS", names)

    use("synthetic")
    return use


def seed_history(conn, days: int = 40) -> None:
    """Synthetic signals for the days before DAY, so velocities have a baseline."""
    provider = SyntheticProvider()
    for i in range(days, 0, -1):
        start, end = pipeline.day_bounds(DAY - timedelta(days=i))
        ingest.ingest(conn, start, end, providers=[provider])


def workspaces(conn, n: int = 3, pack: str | None = None) -> list[str]:
    ids = sorted(str(uuid.uuid4()) for _ in range(n))
    for ws in ids:
        score.register_workspace(conn, ws, pack)
    return ids


def snapshot(conn) -> dict[str, list]:
    tables = {"raw": "SELECT * FROM signals.raw_signals ORDER BY signal_id",
              "features": "SELECT * FROM signals.company_features_daily ORDER BY 1, 2, 3",
              "scores": "SELECT * FROM signals.company_scores_daily ORDER BY 1, 2, 3, 4",
              "emerging": "SELECT * FROM signals.emerging_companies ORDER BY 1, 2, 3, 4",
              "rejected": "SELECT * FROM signals.rejected_signals ORDER BY id",
              "companies": "SELECT * FROM signals.companies ORDER BY company_id"}
    return {name: fetch(conn, sql) for name, sql in tables.items()}


def oracle(conn, day: date, pack: str) -> list[tuple[str, float, str]]:
    """Ranked (company, composite, band) computed in Python from the raw rows (docs/signals.md)."""
    raw = fetch(conn, "SELECT c.name, s.signal_type, s.observed_at FROM signals.raw_signals s "
                      "JOIN signals.companies c USING (company_id)")
    counts: dict[tuple[str, str], list[int]] = {}
    for name, signal_type, observed in raw:
        age = (day - observed.astimezone(UTC).date()).days
        if 0 <= age <= 89:
            counts.setdefault((name, signal_type), []).append(age)
    strength: dict[str, dict[str, float]] = {}
    for (name, signal_type), ages in counts.items():
        c7 = sum(a < 7 for a in ages)
        b7 = sum(7 <= a < 35 for a in ages) * 7 / 28
        c30 = sum(a < 30 for a in ages)
        b30 = sum(a >= 30 for a in ages) * 30 / 60
        v7, v30 = c7 / max(b7, 1), c30 / max(b30, 1)
        strength.setdefault(name, {})[signal_type] = 0.7 * min(1, v7 / 4) + 0.3 * min(1, v30 / 4)
    weights = WEIGHTS[pack]
    out = []
    for name, per_type in strength.items():
        composite = 100 * sum(weights[t] * s for t, s in per_type.items()) / sum(weights.values())
        band = next((b for b, lo in sorted(BANDS[pack].items(), key=lambda kv: -kv[1]) if composite >= lo - 1e-9),
                    "cold")
        out.append((name, composite, band))
    return sorted([r for r in out if round(r[1], 2) > 0], key=lambda r: (-round(r[1], 2), r[0]))[:25]


def assert_matches_oracle(conn, ws: str, pack: str) -> None:
    got = fetch(conn, "SELECT company_name, composite, band FROM signals.emerging_companies "
                      "WHERE workspace_id = %s AND pack_id = %s AND day = %s ORDER BY rank", (ws, pack, DAY))
    expected = oracle(conn, DAY, pack)
    assert len(got) == len(expected) > 0
    for (name, composite, band), (e_name, e_composite, e_band) in zip(got, expected, strict=True):
        assert name == e_name
        assert math.isclose(float(composite), e_composite, abs_tol=0.006)
        assert band == e_band


def task_states(dr) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for ti in dr.get_task_instances():
        states.setdefault(ti.task_id, []).append(ti.state)
    return states


def test_daily_run_stages_in_order_mapped_per_workspace_with_audit_rows(wh, dagbag, providers, monkeypatch):
    seed_history(wh)
    ids = workspaces(wh, 3)
    score.register_workspace(wh, ids[2], "growth")
    dr = run_dag(dagbag, "daily_signal_aggregation", RUN_AT, monkeypatch)
    assert dr.state == "success"

    tis = {}
    for ti in dr.get_task_instances():
        tis.setdefault(ti.task_id, []).append(ti)
    assert [ti.state for ti in tis["score_and_rank"]] == ["success"] * 3
    assert sorted(ti.map_index for ti in tis["score_and_rank"]) == [0, 1, 2]
    order = ["start_audit", "plan", "ingest", "derive"]
    for before, after in zip(order, order[1:] + ["score_and_rank"], strict=True):
        assert max(t.end_date for t in tis[before]) <= min(t.start_date for t in tis[after]), (before, after)
    assert max(t.end_date for t in tis["score_and_rank"]) <= tis["finish_audit"][0].start_date

    rows = fetch(wh, "SELECT workspace_id::text, status, inserted, companies_scored, ranked_count, error, "
                     "period_start, details->>'pack_id' FROM ops.job_runs "
                     "WHERE job_type = 'daily_aggregation' ORDER BY workspace_id NULLS LAST")
    assert len(rows) == 4
    per_ws, run_row = rows[:3], rows[3]
    inserted = fetch(wh, "SELECT count(*) FROM signals.raw_signals WHERE observed_at >= %s",
                     (datetime(2026, 1, 5, tzinfo=UTC),))[0][0]
    assert inserted > 0
    for (ws, status, ins, scored, ranked, error, period, pack), expected_ws in zip(per_ws, ids, strict=True):
        assert (ws, status, ins, error) == (expected_ws, "success", inserted, None)
        assert scored == 20 and 0 < ranked <= 20  # 20 synthetic companies
        assert period == datetime(2026, 1, 5, tzinfo=UTC)
        assert pack == ("growth" if ws == ids[2] else "default")
    assert run_row[0] is None and run_row[1:4] == ("success", inserted, 60)

    # Ranked output: (rank 1..n, name, composite 0..100 descending, band) and equal to the oracle.
    for ws in ids[:2]:
        assert_matches_oracle(wh, ws, "default")
    assert_matches_oracle(wh, ids[2], "growth")
    ranked = fetch(wh, "SELECT rank, company_name, composite, band FROM signals.emerging_companies "
                       "WHERE workspace_id = %s ORDER BY rank", (ids[0],))
    assert [r[0] for r in ranked] == list(range(1, len(ranked) + 1))
    assert all(0 < r[2] <= 100 and r[3] in ("hot", "warm", "watch", "cold") for r in ranked)
    assert [r[2] for r in ranked] == sorted((r[2] for r in ranked), reverse=True)


def test_provider_failures_are_recorded_and_not_fatal(wh, dagbag, providers, monkeypatch):
    providers("broken,slow,messy,synthetic")
    ws, = workspaces(wh, 1)
    dr = run_dag(dagbag, "daily_signal_aggregation", RUN_AT, monkeypatch)
    assert dr.state == "success"
    runs = {r[0]: r[1:] for r in fetch(wh, "SELECT provider, status, fetched, inserted, rejected, error "
                                           "FROM signals.provider_runs WHERE day = %s", (DAY,))}
    assert runs["broken"][0] == "failed" and "provider API down" in runs["broken"][4]
    assert runs["slow"][0] == "timeout" and "timed out" in runs["slow"][4]
    assert runs["messy"][:4] == ("partial", 7, 1, 6)
    assert runs["synthetic"][0] == "success" and runs["synthetic"][2] > 0
    reasons = sorted(r[0] for r in fetch(wh, "SELECT reason FROM signals.rejected_signals WHERE provider = 'messy'"))
    assert reasons == ["invalid_value", "invalid_value", "missing_external_id", "not_an_object",
                       "observed_at_without_timezone", "unknown_signal_type"]
    (status, inserted), = fetch(wh, "SELECT status, inserted FROM ops.job_runs WHERE workspace_id = %s", (ws,))
    assert status == "success" and inserted == runs["synthetic"][2] + 1


def test_rerun_inserts_no_duplicates_and_changes_nothing(wh, dagbag, providers, monkeypatch):
    providers("messy,synthetic")
    seed_history(wh, 10)
    workspaces(wh, 2)
    assert run_dag(dagbag, "daily_signal_aggregation", RUN_AT, monkeypatch).state == "success"
    first = snapshot(wh)
    assert first["raw"] and first["scores"] and first["emerging"] and first["rejected"]
    assert run_dag(dagbag, "daily_signal_aggregation", RUN_AT + timedelta(minutes=1),
                   monkeypatch).state == "success"
    assert snapshot(wh) == first  # updated_at included: nothing was rewritten
    inserted = fetch(wh, "SELECT inserted FROM ops.job_runs WHERE workspace_id IS NULL ORDER BY id")
    assert inserted[0][0] > 0 and inserted[1][0] == 0


def test_workspace_and_pack_params_reach_the_stages(wh, dagbag, providers, monkeypatch):
    seed_history(wh, 10)
    ids = workspaces(wh, 3)
    dr = run_dag(dagbag, "daily_signal_aggregation", RUN_AT, monkeypatch,
                 conf={"workspace_id": ids[1], "pack_id": "growth"})
    assert dr.state == "success"
    assert task_states(dr)["score_and_rank"] == ["success"]
    assert fetch(wh, "SELECT DISTINCT workspace_id::text, pack_id FROM signals.emerging_companies") == [
        (ids[1], "growth")]
    rows = fetch(wh, "SELECT workspace_id::text, status, details->>'pack_id' FROM ops.job_runs")
    assert rows == [(ids[1], "success", "growth")]  # no run-level row for a one-workspace run
    assert_matches_oracle(wh, ids[1], "growth")


def test_unknown_pack_or_workspace_fails_the_run_naming_it(wh, dagbag, providers, monkeypatch):
    ws, = workspaces(wh, 1)
    dr = run_dag(dagbag, "daily_signal_aggregation", RUN_AT, monkeypatch, conf={"pack_id": "nosuchpack"})
    assert dr.state == "failed"
    assert task_states(dr)["plan"] == ["failed"]
    with pytest.raises(score.UnknownPack, match="nosuchpack"):
        score.resolve_pack(wh, ws, "nosuchpack")
    stranger = str(uuid.uuid4())
    with pytest.raises(score.UnknownWorkspace, match=stranger):
        pipeline.targets(wh, stranger, None)


def test_pack_resolution_given_then_workspace_then_default(wh):
    a, b = workspaces(wh, 2)
    score.register_workspace(wh, b, "growth")
    assert score.resolve_pack(wh, a, None) == "default"
    assert score.resolve_pack(wh, b, None) == "growth"
    assert score.resolve_pack(wh, b, "default") == "default"
    assert score.resolve_pack(wh, None, None) == "default"


def test_file_provider_reads_csv_and_jsonl_drops(wh, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_WAREHOUSE_SIGNALS_DROP_DIR", str(tmp_path))
    (tmp_path / "a.csv").write_text(
        "external_id,company,signal_type,observed_at,value\n"
        "f-1,Zeta Dynamics,hiring,2026-01-05T08:00:00Z,3\n"
        "f-2,zeta dynamics,funding,2026-01-05T09:00:00+01:00,2000000\n"
        "f-3,Zeta Dynamics,hiring,yesterday,1\n")
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"external_id": "f-4", "company": "Eta Works", "signal_type": "mention",
                    "observed_at": "2026-01-05T12:00:00+00:00", "value": 1}) + "\n{not json\n\n")
    (tmp_path / "ignored.txt").write_text("nothing")
    start, end = pipeline.day_bounds(DAY)
    report = ingest.ingest(wh, start, end, providers=[ingest.FileProvider()])
    assert report["providers"]["file"] == {"status": "partial", "fetched": 5, "inserted": 3, "rejected": 2,
                                           "skipped": 0, "error": None}
    assert fetch(wh, "SELECT name FROM signals.companies ORDER BY name") == [("Eta Works",), ("Zeta Dynamics",)]
    assert sorted(r[0] for r in fetch(wh, "SELECT reason FROM signals.rejected_signals")) == [
        "invalid_json", "invalid_observed_at"]
    again = ingest.ingest(wh, start, end, providers=[ingest.FileProvider()])
    assert again["inserted"] == 0
    assert again["providers"]["file"]["fetched"] == 0 and again["providers"]["file"]["skipped"] == 2  # not re-read
    assert fetch(wh, "SELECT count(*) FROM signals.raw_signals")[0][0] == 3
    assert fetch(wh, "SELECT count(*) FROM signals.rejected_signals")[0][0] == 2
    assert derive.derive_day(wh, DAY)["companies"] == 2


def test_run_daily_for_daily_rollup_is_idempotent(wh, providers):
    seed_history(wh, 5)
    ws, = workspaces(wh, 1)
    first = pipeline.run_daily(wh, DAY)
    assert first["inserted"] > 0 and first["workspaces"][0]["companies_scored"] == 20
    before = snapshot(wh)
    again = pipeline.run_daily(wh, DAY, ws, "default")
    assert again["inserted"] == 0 and snapshot(wh) == before
    assert [r["rank"] for r in again["workspaces"][0]["ranked"]] == list(range(1, 21))


def test_hourly_rollup_ingests_signals_and_survives_provider_failures(wh, dagbag, providers, monkeypatch):
    providers("broken,synthetic")
    run_at = datetime(2026, 1, 5, 13, 5, tzinfo=UTC)
    dr = run_dag(dagbag, "hourly_rollup", run_at, monkeypatch)
    assert dr.state == "success"
    assert task_states(dr)["ingest_signals"] == ["success"]
    hour = datetime(2026, 1, 5, 12, tzinfo=UTC)
    expected = {r["external_id"] for r in SyntheticProvider().fetch(hour, hour + timedelta(hours=1))}
    got = {r[0] for r in fetch(wh, "SELECT external_id FROM signals.raw_signals")}
    assert got == expected and got
    # The daily ingest of the same day adds the other hours, never the same rows again.
    start, end = pipeline.day_bounds(DAY)
    day_rows = {r["external_id"] for r in SyntheticProvider().fetch(start, end)}
    report = ingest.ingest(wh, start, end, providers=[SyntheticProvider()])
    assert report["inserted"] == len(day_rows - expected)


def test_a_provider_failure_in_one_hour_stays_visible_after_a_later_hour_succeeds(wh):
    """An hourly ingest at 11:00 must not overwrite the 10:00 failure of the same provider and day."""

    class Flaky:
        name = "flaky"

        def __init__(self, up: bool) -> None:
            self.up = up

        def fetch(self, start, end):
            if not self.up:
                raise ConnectionError("provider API down at 10:00")
            return []

    ten = datetime(2026, 1, 5, 10, tzinfo=UTC)
    ingest.ingest(wh, ten, ten + timedelta(hours=1), providers=[Flaky(up=False)])
    ingest.ingest(wh, ten + timedelta(hours=1), ten + timedelta(hours=2), providers=[Flaky(up=True)])
    statuses = [r[0] for r in fetch(wh, "SELECT status FROM signals.provider_runs "
                                        "WHERE provider = 'flaky' AND day = %s ORDER BY updated_at", (DAY,))]
    assert statuses == ["failed", "success"]
    # The day at a glance shows its worst window and why.
    ((status, error, windows),) = fetch(wh, "SELECT status, error, windows FROM signals.provider_days "
                                            "WHERE provider = 'flaky' AND day = %s", (DAY,))
    assert (status, windows) == ("failed", 2) and "down at 10:00" in error


def test_granular_mode_runs_only_the_steps_asked_for(wh, dagbag, providers, monkeypatch):
    """The internal API's run_ingest / run_derive / run_score are runs of this DAG with `steps`
    (and `hour` for the ingest): each runs its step only, and the run succeeds."""
    providers("synthetic")
    ws, = workspaces(wh, 1)
    hour = datetime(2026, 1, 5, 10, tzinfo=UTC)
    count = lambda table: fetch(wh, f"SELECT count(*) FROM signals.{table}")[0][0]  # noqa: E731, S608

    dr = run_dag(dagbag, "daily_signal_aggregation", RUN_AT, monkeypatch,
                 conf={"steps": ["ingest"], "hour": hour.isoformat()})
    assert dr.state == "success"
    expected = {r["external_id"] for r in SyntheticProvider().fetch(hour, hour + timedelta(hours=1))}
    assert {r[0] for r in fetch(wh, "SELECT external_id FROM signals.raw_signals")} == expected and expected
    assert count("company_features_daily") == 0 and count("emerging_companies") == 0

    dr = run_dag(dagbag, "daily_signal_aggregation", RUN_AT, monkeypatch, conf={"steps": ["derive"]})
    assert dr.state == "success"
    assert count("raw_signals") == len(expected)  # nothing ingested by the derive run
    assert count("company_features_daily") > 0 and count("emerging_companies") == 0

    dr = run_dag(dagbag, "daily_signal_aggregation", RUN_AT, monkeypatch, conf={"steps": ["score"]})
    assert dr.state == "success"
    assert count("emerging_companies") > 0
    ((status,),) = fetch(wh, "SELECT status FROM ops.job_runs WHERE dag_id = 'daily_signal_aggregation' "
                             "AND workspace_id = %s ORDER BY id DESC LIMIT 1", (ws,))
    assert status == "success"
