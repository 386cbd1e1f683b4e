"""
### refresh_materialized_views

Every 15 minutes (the data interval is the last closed quarter hour; deadline 2 minutes):
refreshes the dashboard materialized views CONCURRENTLY, so dashboards never wait:

- `analytics.workspace_summary_30d`: per workspace, the last 30 days from the hourly
  rollups (runs, successes, failures, success rate, exact mean and merged p95 runtime,
  credits);
- `analytics.workspace_leaderboard_7d`: workspaces ranked by credits over 7 days, with
  runs, success rate and active users.

`hourly_rollup` refreshes them as well once an hour is rolled up. One `ops.job_runs` row
per run, with each view's refresh time in its details.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from agent_warehouse import settings
from agent_warehouse.orchestration.deadlines import deadline_alert
from agent_warehouse.orchestration.tasks import DEFAULT_ARGS
from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable


@dag(
    dag_id="refresh_materialized_views",
    schedule=ClosedPeriodTimetable("*/15 * * * *"),
    start_date=settings.START_DATE,
    # A refresh rebuilds the current contents: a missed quarter hour needs no run of its own,
    # and catching up since START_DATE would queue thousands of identical refreshes.
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    default_args={**DEFAULT_ARGS, "execution_timeout": settings.REFRESH_EXECUTION_TIMEOUT},
    deadline=deadline_alert("refresh_materialized_views", settings.REFRESH_DEADLINE),
    doc_md=__doc__,
    tags=["views", "dashboards", "warehouse"],
)
def refresh_materialized_views() -> None:
    @task
    def refresh_views() -> dict:
        """Refresh each view in its own transaction; audit row with the seconds taken."""
        from airflow.sdk import get_current_context

        from agent_warehouse.orchestration import tasks as dag_support
        from agent_warehouse.rollups import views

        job_id = dag_support.start_audit("refresh_materialized_views", get_current_context())
        try:
            seconds = views.refresh_with_hook()
        except Exception as exc:
            dag_support.finish_audit(job_id, ok=False, rows_written=0, details={}, error=repr(exc)[:4000])
            raise
        dag_support.finish_audit(job_id, ok=True, rows_written=0, details={"refresh_seconds": seconds})
        return seconds

    refresh_views()


refresh_materialized_views()
