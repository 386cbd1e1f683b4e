"""Every DAG file imports cleanly and fast, with the schedule, retries and tags it promises."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import pendulum

from support import ROOT

EXPECTED = {
    "hourly_rollup": ("0 * * * *", timedelta(minutes=5)),
    "daily_rollup": ("0 0 * * *", timedelta(hours=1)),
    "weekly_rollup": ("0 0 * * 1", timedelta(hours=2)),
    "cleanup_old_data": ("0 0 * * *", timedelta(hours=3)),
    "daily_signal_aggregation": ("0 0 * * *", timedelta(minutes=30)),
}


def test_dag_files_import_without_errors_and_fast(dagbag):
    assert dagbag.import_errors == {}
    assert set(EXPECTED) <= set(dagbag.dag_ids)
    for path in (ROOT / "dags").glob("*.py"):
        began = time.perf_counter()
        # Parsing in a fresh interpreter that already has airflow imported: the file's own cost.
        code = ("import time, airflow.sdk, runpy; t = time.perf_counter(); "
                f"runpy.run_path({str(path)!r}); print(time.perf_counter() - t)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert float(out.stdout.strip().splitlines()[-1]) < 1.0, path.name
        assert time.perf_counter() - began < 60


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


def test_hourly_timetable_takes_the_last_closed_hour():
    from airflow.timetables.base import DataInterval, TimeRestriction

    from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable

    tt = ClosedPeriodTimetable("0 * * * *", delay=timedelta(minutes=5))
    utc = pendulum.UTC

    def datetime(*args, tzinfo):  # the timetable API takes pendulum DateTimes
        return pendulum.datetime(*args, tz=tzinfo)

    manual = tt.infer_manual_data_interval(run_after=datetime(2026, 1, 5, 10, 5, tzinfo=utc))
    assert (manual.start, manual.end) == (datetime(2026, 1, 5, 9, tzinfo=utc), datetime(2026, 1, 5, 10, tzinfo=utc))
    nxt = tt.next_dagrun_info(
        last_automated_data_interval=DataInterval(datetime(2026, 1, 5, 9, tzinfo=utc),
                                                  datetime(2026, 1, 5, 10, tzinfo=utc)),
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    assert nxt.data_interval.start == datetime(2026, 1, 5, 10, tzinfo=utc)
    assert nxt.run_after == datetime(2026, 1, 5, 11, 5, tzinfo=utc)
    assert nxt.logical_date == datetime(2026, 1, 5, 10, tzinfo=utc)
    again = ClosedPeriodTimetable.deserialize(tt.serialize())
    assert again == tt and again.delay == timedelta(minutes=5)
