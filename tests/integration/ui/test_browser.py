"""The Airflow UI as a person uses it, in headless Chromium (Debian's ``chromium`` and
``chromedriver``; ``.ci/run`` installs them when it runs as root): log in through the login
form, the DAG list, the grid of hourly_rollup, the "Reports" navigation entry and a
report page, the Freshness page. Screenshots go to tests/artifacts/ui/ (not committed)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from urllib.parse import quote

import httpx
import pytest

from support import ROOT
from support.browser import Browser, find_chromium
from support.services import shared_stack

DAY = date(2026, 1, 5)
SHOTS = ROOT / "tests" / "artifacts" / "ui"
DAG_IDS = ("hourly_rollup", "daily_rollup", "weekly_rollup", "cleanup_old_data", "refresh_materialized_views",
           "daily_signal_aggregation")

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def chromium():
    found = find_chromium()
    if found is None:
        pytest.skip("no headless Chromium: `apt-get install chromium` (Debian's package; .ci/run installs it "
                    "when it runs as root)")
    return found


@pytest.fixture(scope="module")
def stack(migrated):
    return shared_stack()


def an_hourly_run(stack) -> str:
    """A finished hourly_rollup run to see in the grid (the backfill test leaves some; alone,
    this test backfills one hour)."""
    def finished() -> list[tuple]:
        return stack.meta("SELECT run_id FROM dag_run WHERE dag_id = 'hourly_rollup' AND state = 'success' "
                          "ORDER BY run_id LIMIT 1")

    if not finished():
        hour = datetime(2026, 1, 5, 8, tzinfo=UTC).isoformat()
        answer = stack.api.post("/api/v2/backfills", json={"dag_id": "hourly_rollup", "from_date": hour,
                                                           "to_date": hour})
        assert answer.status_code == 200, answer.text
        end = time.monotonic() + 180
        while not finished() and time.monotonic() < end:
            time.sleep(1)
    ((run_id,),) = finished()
    return run_id


def an_incident_found_by(wh, run_id: str) -> None:
    """A reconciliation incident of DAY naming ``run_id`` as the run that found it (that a
    run names itself is tests/integration/checks' part; here the UI follows the link)."""
    with wh.cursor() as cur:
        cur.execute("DELETE FROM ops.reconciliation_incidents")
        cur.execute("INSERT INTO ops.reconciliation_incidents (grain, period, table_name, what_differed, mismatches, "
                    "dag_id, run_id, outcome) VALUES ('hour', %s, 'analytics.execution_metrics_hourly', "
                    "'1 difference(s) in 1 workspace(s), columns total_credits', 1, 'hourly_rollup', %s, 'repaired')",
                    (datetime(2026, 1, 5, 8, tzinfo=UTC), run_id))
    wh.commit()


def follow_found_by(browser: Browser, run_id: str, shot: str) -> None:
    """The page's "the Airflow run that found it" link leads to that run's page in the UI."""
    href = browser.call("POST", "/execute/sync", {
        "script": "const a = document.querySelector('#incidents a.found-by'); return a ? a.href : null",
        "args": []})
    assert href and href.endswith(f"/dags/hourly_rollup/runs/{quote(run_id, safe='')}"), href
    browser.click("#incidents a.found-by")
    browser.wait_url(lambda u: "/dags/hourly_rollup/runs/" in u)
    page = browser.wait_text("Success")
    assert run_id in page or "backfill" in page
    browser.screenshot(shot)


def test_log_in_see_the_dags_the_grid_and_the_report(chromium, stack, wh):
    from agent_warehouse.reports.daily import write_daily_report

    run_id = an_hourly_run(stack)
    an_incident_found_by(wh, run_id)
    write_daily_report(wh, DAY, stack.reports_dir)
    browser = Browser(*chromium, SHOTS)
    try:
        # Not logged in: the UI sends the browser to the login form, and /reports refuses.
        browser.open(f"{stack.base}/reports/")
        assert "Not authenticated" in browser.wait_text("detail")
        browser.open(f"{stack.base}/")
        browser.wait_url(lambda u: "/auth/login" in u)
        browser.type("input[name=username]", "admin")
        browser.type("input[name=password]", stack.password)
        browser.screenshot("01-login")
        browser.click("button[type=submit]")
        browser.wait_url(lambda u: "/auth/login" not in u)

        browser.open(f"{stack.base}/dags")
        listed = browser.wait_text("hourly_rollup")
        for dag_id in DAG_IDS:
            assert dag_id in listed, dag_id
        assert "Reports" in listed  # the plugin's navigation entry (short: the nav cut "Daily reports")
        browser.screenshot("02-dag-list")

        browser.open(f"{stack.base}/dags/hourly_rollup")
        grid = browser.wait_text("rollup_hour")
        for task_id in ("start_audit", "rollup_hour", "repair_changed_hours", "check_hours", "finish_audit"):
            assert task_id in grid, task_id
        browser.screenshot("03-hourly-rollup-grid")
        browser.open(f"{stack.base}/dags/hourly_rollup/runs/{run_id}")
        run_page = browser.wait_text("Success")
        assert run_id in run_page or "backfill" in run_page
        browser.screenshot("04-hourly-rollup-run")

        # The navigation entry shows /reports inside the UI, with the UI's own login (cookie).
        browser.open(f"{stack.base}/plugin/daily_reports")
        frame = browser.wait_text(DAY.isoformat(), frame_css="iframe[src='/reports/']")
        assert "Daily reports" in frame
        browser.screenshot("05-daily-reports-entry")
        browser.open(f"{stack.base}/reports/daily-{DAY.isoformat()}.html")
        page = browser.wait_text(f"Daily report — {DAY.isoformat()}")
        assert "Executions per hour (UTC)" in browser.source() and "Workspaces that moved most" in page
        charts = browser.call("POST", "/execute/sync", {"script": "return document.querySelectorAll('svg').length",
                                                        "args": []})
        assert charts == 8
        browser.screenshot("06-daily-report")
        follow_found_by(browser, run_id, "06b-run-that-found-the-incident")

        # The Freshness page (docs/checks.md), linked from the reports' index: one row per
        # rollup table, and the incidents.
        browser.open(f"{stack.base}/reports/")
        assert 'href="freshness"' in browser.source()
        browser.open(f"{stack.base}/reports/freshness")
        fresh = browser.wait_text("Reconciliation incidents")
        for table in ("execution_metrics_hourly", "execution_metrics_daily", "execution_metrics_weekly"):
            assert table in fresh, table
        assert "newest period rolled up" in fresh and "pending periods" in fresh
        assert fresh.index("Incidents and anomalies found in the last 24 hours") < fresh.index("newest period")
        browser.screenshot("07-freshness")
        follow_found_by(browser, run_id, "07b-run-that-found-the-incident")
    finally:
        browser.close()
    # Outside the browser too: the same page without a login is refused.
    assert httpx.get(f"{stack.base}/reports/daily-{DAY.isoformat()}.html", timeout=10).status_code == 401
