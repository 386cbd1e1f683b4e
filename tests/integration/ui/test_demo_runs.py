"""The demo's in-process runs (dag.test) as the UI shows them: with the time they really
took, not "321 days" (dag.test records a run as started at its logical date)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def test_the_demo_records_its_runs_real_start(wh, dagbag, monkeypatch):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    from tools import demo

    monkeypatch.setattr(dagbag.get_dag("hourly_rollup"), "deadline", None)
    began = datetime.now(UTC)
    run_at = datetime(2026, 1, 5, 10, 5, tzinfo=UTC)
    demo.run(dagbag, "hourly_rollup", run_at)
    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == "hourly_rollup",
                                           DagRun.logical_date == run_at).one()
        assert run.state == "success"
        assert began - timedelta(seconds=1) <= run.start_date <= run.end_date
        assert run.end_date - run.start_date < timedelta(minutes=10)  # not months
