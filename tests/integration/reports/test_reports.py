"""The daily report: JSON in the warehouse, a self-contained HTML page, served by the plugin."""

from __future__ import annotations

import math
import random
import re
import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from agent_warehouse.rollups import periods
from support.checks import fetch
from support.oracle import percentile_cont
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

DAY = date(2026, 1, 7)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.fixture()
def report(wh, dagbag, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENT_WAREHOUSE_REPORTS_DIR", str(tmp_path))
    rng = random.Random(21)
    workspaces = [str(uuid.uuid4()) for _ in range(8)]
    for i, n in enumerate((400, 900, 700)):
        insert_runs(wh, make_runs(rng, midnight(DAY - timedelta(days=2 - i)), n, workspaces,
                                  span=timedelta(days=1)))
    for i in (2, 1):
        periods.daily(wh, DAY - timedelta(days=i))
    assert run_dag(dagbag, "daily_rollup", midnight(DAY) + timedelta(days=1, hours=1), monkeypatch).state == "success"
    ((stored,),) = fetch(wh, "SELECT report FROM analytics.daily_reports WHERE day = %s", (DAY,))
    return stored, tmp_path


def test_report_numbers_match_the_rollups_and_the_raw_rows(wh, report):
    stored, _ = report
    series = {p["day"]: p for p in stored["series"]}
    assert len(stored["series"]) == 30 and stored["day"] == DAY.isoformat()
    daily = fetch(wh, "SELECT day::text, sum(total_executions), sum(failed_executions), sum(total_credits), count(*) "
                      "FROM analytics.execution_metrics_daily GROUP BY day")
    assert len(daily) == 3
    for day, ex, failed, credits, ws in daily:
        p = series[day]
        assert (p["executions"], p["failed"], Decimal(p["credits"]), p["workspaces"]) == (ex, failed, credits, ws)
        assert math.isclose(p["failure_rate"], failed / ex)
    assert all(p["executions"] == 0 and p["p95_runtime"] is None for d, p in series.items()
               if d not in {r[0] for r in daily})
    # The all-workspace p95 comes from merged sketches: within 1% of the exact value.
    runtimes = [r[0] for r in fetch(
        wh, "SELECT runtime_seconds FROM public.agent_runs WHERE started_at >= %s AND started_at < %s "
            "AND runtime_seconds IS NOT NULL", (midnight(DAY), midnight(DAY) + timedelta(days=1)))]
    exact = percentile_cont(runtimes, 0.95)
    assert abs(stored["today"]["p95_runtime"] - exact) / exact <= 0.01
    # Movers: the largest absolute change in executions against the day before.
    before = dict(fetch(wh, "SELECT workspace_id::text, total_executions FROM analytics.execution_metrics_daily "
                            "WHERE day = %s", (DAY - timedelta(days=1),)))
    today = dict(fetch(wh, "SELECT workspace_id::text, total_executions FROM analytics.execution_metrics_daily "
                           "WHERE day = %s", (DAY,)))
    deltas = sorted((abs(today.get(w, 0) - before.get(w, 0)) for w in set(before) | set(today)), reverse=True)
    assert [abs(m["delta"]) for m in stored["movers"]] == deltas[:10]
    assert sum(stored["health_bands"].values()) == len(today)


def test_the_page_is_self_contained_and_served_under_reports(report):
    stored, folder = report
    page = folder / f"daily-{DAY.isoformat()}.html"
    text = page.read_text()
    # The day (executions and failure rate per hour, credits by workspace, health bands) and the
    # 30-day trend (executions, failure rate, p95, credits).
    assert text.count("<svg") == 8
    for title in ("Executions per hour (UTC)", "Failure rate per hour (%)", "Credits by workspace (top)",
                  "Health bands (workspaces)", "p95 runtime (s)"):
        assert f'aria-label="{title}"' in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched from elsewhere
    assert "<script" not in text
    assert f'<b id="executions">{stored["today"]["executions"]:,}</b>' in text
    assert (folder / "index.html").exists()
    # The day's hours add up to the day, and the top consumer of credits is charted first.
    assert sum(h["executions"] for h in stored["hours"]) == stored["today"]["executions"]
    assert len(stored["hours"]) == 24 and len(stored["credits_by_workspace"]) == 8
    credits = [Decimal(c["credits"]) for c in stored["credits_by_workspace"]]
    assert credits == sorted(credits, reverse=True)

    client, headers = reports_client()
    assert page.name in client.get("/", headers=headers).text
    assert client.get(f"/{page.name}", headers=headers).text == text
    assert client.get("/..%2Fsecrets.html", headers=headers).status_code == 404
    assert client.get("/../etc/passwd", headers=headers).status_code == 404


def reports_client():
    """The /reports app as the api-server mounts it, and the headers of a logged-in UI user
    (a JWT signed by the auth manager, as POST /auth/token hands out)."""
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from agent_warehouse.web.reports_app import app

    token = create_auth_manager().generate_jwt(SimpleAuthManagerUser(username="viewer1", role="viewer"))
    root = FastAPI()
    root.mount("/reports", app)
    return TestClient(root, base_url="http://testserver/reports"), {"Authorization": f"Bearer {token}"}


def test_every_reports_url_requires_an_airflow_login(report, monkeypatch):
    stored, folder = report
    client, headers = reports_client()
    page = f"daily-{DAY.isoformat()}.html"
    for path in ("/", f"/{page}", "/index.html", "/daily-2020-01-01.html", "/nothing"):
        assert client.get(path).status_code == 401, path  # no login
        assert client.get(path, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403, path
        assert client.get(path, cookies={"_token": "forged"}).status_code == 403, path
    assert "Daily report" in client.get(f"/{page}", headers=headers).text
    cookie = headers["Authorization"].removeprefix("Bearer ")
    client.cookies.set("_token", cookie)  # the UI's session cookie, as the browser sends it
    assert client.get(f"/{page}").status_code == 200


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")), reason="no chromium")
def test_headless_screenshot(report, tmp_path):
    _, folder = report
    shot = tmp_path / "report.png"
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,900", (folder / f"daily-{DAY.isoformat()}.html").as_uri()],
                   check=True, timeout=60, capture_output=True)
    assert shot.stat().st_size > 10_000


def test_plugin_registers_the_reports_app_and_a_nav_link():
    # The package's plugin (its entry point registers it; plugins/ only re-exports it).
    from agent_warehouse.orchestration.plugin import AgentWarehousePlugin as plugin
    assert plugin.fastapi_apps[0]["url_prefix"] == "/reports"
    assert plugin.external_views[0]["href"] == "/reports/"


def test_the_page_reads_as_a_person_needs(report):
    """Formatted headline numbers, charts that start on the first day with data, ticked and
    labelled axes, a tooltip on every point and bar, workspaces by a short label with the
    full id on hover, and a place for the day's incidents at the top."""
    stored, folder = report
    text = (folder / f"daily-{DAY.isoformat()}.html").read_text()
    today = stored["today"]
    assert f'<b id="executions">{today["executions"]:,}</b>' in text
    assert f'<b id="failure-rate">{100 * today["failure_rate"]:.1f}%</b>' in text
    assert f'<b id="credits">{float(Decimal(today["credits"])):,.{0 if float(Decimal(today["credits"])) >= 100 else 1}f}</b>' in text
    assert re.search(r'<b id="p95">[\d,.]+ s</b>', text)
    # The data starts two days before DAY: so do the 30-day charts.
    assert "Last 3 days (2026-01-05 to 2026-01-07)" in text
    trend = text[text.index('id="trend-charts"'):text.index('id="movers"')]
    assert re.findall(r'class="tick x-tick"[^>]*>([^<]+)<', trend)[:3] == ["Jan 5", "Jan 6", "Jan 7"]
    assert trend.count("<circle") == 4 * 3 and trend.count("<title>") >= 4 * 3
    assert len(re.findall(r'class="tick y-tick"', text)) >= 3 * 7  # every chart but the hbar has a y axis
    day = text[text.index('id="day-charts"'):text.index('id="trend-charts"')]
    assert ">00<" in day and ">12<" in day and "hour (UTC)" in day  # hour ticks and the axis title
    # Workspaces: 8 hex digits shown, the full id on hover.
    top = stored["credits_by_workspace"][0]["workspace_id"]
    assert f"<title>{top}: " in day and f">{top[:8]}<" in day
    mover = stored["movers"][0]["workspace_id"]
    assert f'<code title="{mover}">{mover[:8]}</code>' in text
    assert text.index('id="incidents"') < text.index('id="executions"')


def test_incidents_given_to_the_page_are_listed_on_top_with_their_run(report):
    from agent_warehouse.reports.daily import render_html

    stored, _ = report
    page = render_html(stored, incidents=[{"when": "13:00 UTC", "kind": "failure rate",
                                           "workspace_id": "eaa5aa85-1c69-55ba-9446-9fe495011776",
                                           "summary": "55% failed against 8% usually",
                                           "run_url": "/dags/hourly_rollup/runs/r1"}])
    block = page[page.index('id="incidents"'):page.index('id="executions"')]
    assert "55% failed against 8% usually" in block and 'href="/dags/hourly_rollup/runs/r1"' in block
    assert '<code title="eaa5aa85-1c69-55ba-9446-9fe495011776">eaa5aa85</code>' in block


def test_concurrent_writes_of_the_same_pages_all_succeed(wh, tmp_path):
    """Up to four daily runs and backfills write pages at once, some of the same day (issue 17,
    section 5): every write succeeds, every page is whole and the index lists every day. Before,
    the temporary names were shared (daily-D.tmp, index.tmp): one writer's rename took the
    other's file away, and 261 of 800 writes failed with FileNotFoundError."""
    import threading

    from agent_warehouse.db import connect
    from agent_warehouse.reports import daily as reports

    days = [DAY + timedelta(days=i) for i in range(4)]
    writers, per_writer = 8, 50
    failures: list[str] = []
    start = threading.Barrier(writers)

    def write(seed: int) -> None:
        conn = connect()
        rng = random.Random(seed)
        try:
            start.wait()
            for _ in range(per_writer):
                try:
                    reports.write_daily_report(conn, rng.choice(days), tmp_path)
                except Exception as exc:  # the subject of the test: counted, not raised
                    failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\nreport writes: {writers * per_writer}, failed: {len(failures)}")
    assert failures == [], failures[:3]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == \
        sorted(["index.html", *(f"daily-{d.isoformat()}.html" for d in days)])
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))  # none left behind
    index = (tmp_path / "index.html").read_text()
    for d in days:
        assert d.isoformat() in index
        assert (tmp_path / f"daily-{d.isoformat()}.html").read_text().rstrip().endswith("</html>")
