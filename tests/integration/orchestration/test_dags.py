"""Every DAG, as the shared DagBag of the integration suite parses it, has the schedule,
retries and tags it promises. The parse itself (no import errors, no database at parse time,
well under a second per file) is checked once, in tests/unit/orchestration/test_dag_policy.py;
the timetable in tests/unit/orchestration/test_timetable.py."""

from __future__ import annotations

from datetime import timedelta

EXPECTED = {
    "hourly_rollup": ("0 * * * *", timedelta(minutes=5)),
    "daily_rollup": ("0 0 * * *", timedelta(hours=1)),
    "weekly_rollup": ("0 0 * * 1", timedelta(hours=2)),
    "cleanup_old_data": ("0 0 * * *", timedelta(hours=3)),
    "daily_signal_aggregation": ("0 0 * * *", timedelta(minutes=30)),
}


def test_schedules_retries_catchup_and_tags(dagbag):
    for dag_id, (cron, delay) in EXPECTED.items():
        dag = dagbag.get_dag(dag_id)
        assert dag.catchup is True
        assert dag.max_active_runs <= 4
        assert dag.tags and dag.doc_md
        assert dag.timetable._expression == cron
        assert dag.timetable.delay == delay
        for task in dag.tasks:
            assert task.retries >= 2, task.task_id
            assert task.retry_exponential_backoff
            assert task.execution_timeout is not None

