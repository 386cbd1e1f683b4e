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
from support.oracle import percentile_cont
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

DAY = date(2026, 1, 7)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def fetch(conn, query, params=()):
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    conn.commit()
    return rows


@pytest.fixture()
def report(wh, dagbag, monkeypatch, tmp_path):
    monkeypatch.setattr("agent_warehouse.settings.REPORTS_DIR", str(tmp_path))
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
    assert text.count("<svg") == 4
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched from elsewhere
    assert f'<b id="executions">{stored["today"]["executions"]}</b>' in text
    assert (folder / "index.html").exists()

    from fastapi.testclient import TestClient

    from agent_warehouse.web.reports_app import app

    client = TestClient(app)
    assert page.name in client.get("/").text
    assert client.get(f"/{page.name}").text == text
    assert client.get("/..%2Fsecrets.html").status_code == 404
    assert client.get("/../etc/passwd").status_code == 404


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
    import importlib.util

    from support import ROOT

    spec = importlib.util.spec_from_file_location("awp", ROOT / "plugins" / "agent_warehouse_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = module.AgentWarehousePlugin
    assert plugin.fastapi_apps[0]["url_prefix"] == "/reports"
    assert plugin.external_views[0]["href"] == "/reports/"
