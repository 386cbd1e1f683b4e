"""A run's state and its audit row never disagree with its tasks (issue 10 §3, docs/audit.md).

Every DAG, every task failed in turn (the function the task calls is patched to raise, or its
SQL fails half-way through a period): the DAG run's state, the ``ops.job_runs`` row and what
was written must agree. A failed period is never half-written. One process, dag.test runs;
retries are off for these runs so each failure is final at once.

Also here: a run may only use the audit rows of its own run id (issue 10 §5), and
``rows_written`` counts rows written, not rows present (issue 11 §5).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from support import HOUR
from support.checks import H0, RUN_AT, assert_exact, fetch, hourly_rows
from support.runs import run_dag
from tools.synthetic import insert_runs, make_runs

DAY = date(2026, 1, 5)
DAY_START = datetime(2026, 1, 5, tzinfo=UTC)
DAILY_RUN_AT = DAY_START + timedelta(days=1, hours=1)
WEEKLY_RUN_AT = DAY_START + timedelta(days=7, hours=2)  # Monday 12 January: the week of the 5th
CLEANUP_RUN_AT = DAY_START + timedelta(days=1, hours=3)
REFRESH_RUN_AT = DAY_START + timedelta(hours=10, minutes=15)
SIGNALS_RUN_AT = DAY_START + timedelta(days=1, minutes=30)

# Where each task's failure is injected: ("call", "module:function") patches what the task
# calls to raise; ("sql", table) makes the period's transaction fail half-way, on its first
# insert into analytics.<table> (other tables of the period are written before it). A key
# "task:step" fails one step of a task (the setup's schema check and partitions); every task
# of every DAG appears at least once (test_every_task_is_failed_in_turn).
SCHEMA = ("call", "agent_warehouse.db.migrations:check_current")
PARTITIONS = ("call", "agent_warehouse.orchestration.tasks:run_script")  # only the partitions' SQL
FAILURES: dict[str, dict[str, tuple[str, str]]] = {
    "hourly_rollup": {
        "start_audit:schema": SCHEMA,
        "start_audit": ("call", "agent_warehouse.db.audit:start_job"),
        "start_audit:partitions": PARTITIONS,
        "rollup_hour": ("sql", "user_activity_hourly"),
        "repair_changed_hours": ("call", "agent_warehouse.rollups.hourly:repair"),
        "ingest_signals": ("call", "agent_warehouse.signals.pipeline:ingest_hour"),
        "check_hours": ("call", "agent_warehouse.checks.reconcile:reconcile"),
        "check_hours:anomalies": ("call", "agent_warehouse.checks.anomalies:detect_hour"),
    },
    "daily_rollup": {
        "start_audit:schema": SCHEMA,
        "start_audit": ("call", "agent_warehouse.db.audit:start_job"),
        "rollup_days": ("sql", "user_activity_daily"),
        "check_days": ("call", "agent_warehouse.checks.reconcile:reconcile"),
        "check_days:anomalies": ("call", "agent_warehouse.checks.anomalies:detect_day"),
        "score_health": ("call", "agent_warehouse.rollups.health:health_day"),
        "write_report": ("call", "agent_warehouse.reports.daily:write_daily_report"),
        "signals_derive_and_score": ("call", "agent_warehouse.signals.pipeline:run_daily"),
    },
    "weekly_rollup": {
        "start_audit:schema": SCHEMA,
        "start_audit": ("call", "agent_warehouse.db.audit:start_job"),
        "rollup_weeks": ("sql", "workspace_activity_weekly"),
        "reconcile": ("call", "agent_warehouse.checks.reconcile:reconcile"),
    },
    "cleanup_old_data": {
        "start_audit:schema": SCHEMA,
        "start_audit": ("call", "agent_warehouse.db.audit:start_job"),
        "start_audit:partitions": PARTITIONS,
        "drop_expired": ("call", "agent_warehouse.retention.cleanup:cleanup"),
    },
    "refresh_materialized_views": {
        "start_audit": ("call", "agent_warehouse.db.audit:start_job"),
        "refresh_views": ("call", "agent_warehouse.rollups.views:refresh"),
    },
    "daily_signal_aggregation": {
        "start_audit:schema": SCHEMA,
        "start_audit": ("call", "agent_warehouse.db.audit:claim_job"),
        "plan": ("call", "agent_warehouse.signals.pipeline:targets"),
        "ingest": ("call", "agent_warehouse.signals.pipeline:ingest_day"),
        "derive": ("call", "agent_warehouse.signals.derive:derive_day"),
        "score_and_rank": ("call", "agent_warehouse.signals.score:score_day"),
    },
}
RUN_AT_OF = {"hourly_rollup": RUN_AT, "daily_rollup": DAILY_RUN_AT, "weekly_rollup": WEEKLY_RUN_AT,
             "cleanup_old_data": CLEANUP_RUN_AT, "refresh_materialized_views": REFRESH_RUN_AT,
             "daily_signal_aggregation": SIGNALS_RUN_AT}
JOB_TYPE = {"daily_signal_aggregation": "daily_aggregation"}
# Failures before the audit row exists: they leave no row (nothing to record it in).
BEFORE_AUDIT = {"start_audit:schema", "start_audit"}
CASES = [(dag_id, task_id) for dag_id, tasks in FAILURES.items() for task_id in [None, *tasks]]


def injected(*args, **kwargs):
    raise RuntimeError("injected failure")


@pytest.fixture()
def fail_inserts(wh):
    """Make the first INSERT into analytics.<table> raise, inside the period's transaction."""
    made = []

    def arm(table: str) -> None:
        with wh.cursor() as cur:
            cur.execute("CREATE OR REPLACE FUNCTION public.test_run_truth_fail() RETURNS trigger "
                        "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure half-way'; END $$")
            cur.execute(f"CREATE TRIGGER test_run_truth_fail BEFORE INSERT ON analytics.{table} "
                        "FOR EACH STATEMENT EXECUTE FUNCTION public.test_run_truth_fail()")
        wh.commit()
        made.append(table)

    yield arm
    with wh.cursor() as cur:
        for table in made:
            cur.execute(f"DROP TRIGGER test_run_truth_fail ON analytics.{table}")
        cur.execute("DROP FUNCTION IF EXISTS public.test_run_truth_fail()")
    wh.commit()


def seed(wh, dag_id: str) -> list[str]:
    workspaces = sorted(str(uuid.uuid4()) for _ in range(3))
    rng = random.Random(hash(dag_id) % 1000)
    if dag_id == "hourly_rollup":
        insert_runs(wh, make_runs(rng, H0, 300, workspaces))
    elif dag_id in ("daily_rollup", "cleanup_old_data", "refresh_materialized_views"):
        insert_runs(wh, make_runs(rng, DAY_START, 300, workspaces, span=timedelta(days=1)))
    elif dag_id == "weekly_rollup":
        insert_runs(wh, make_runs(rng, DAY_START, 300, workspaces, span=timedelta(days=7)))
    else:
        from agent_warehouse.signals import score

        for ws in workspaces:
            score.register_workspace(wh, ws, None)
    return workspaces


def run(dagbag, dag_id: str, monkeypatch, conf: dict | None = None, run_at: datetime | None = None):
    dag = dagbag.get_dag(dag_id)
    for t in dag.tasks:  # each failure final at once (the retry path is tested in test_faults)
        monkeypatch.setattr(t, "retries", 0)
    if dag_id == "daily_signal_aggregation":  # dag.test keeps a shared DAG's last conf otherwise
        conf = {"workspace_id": None, "pack_id": None, **(conf or {})}
    return run_dag(dagbag, dag_id, run_at or RUN_AT_OF[dag_id], monkeypatch, conf=conf)


def period_written(wh, dag_id: str) -> int:
    """Rows of the run's own period in the table its main task writes."""
    table, column, start = {
        "hourly_rollup": ("execution_metrics_hourly", "hour", H0),
        "daily_rollup": ("execution_metrics_daily", "day", DAY),
        "weekly_rollup": ("execution_metrics_weekly", "week_start", DAY),
    }[dag_id]
    return fetch(wh, f"SELECT count(*) FROM analytics.{table} WHERE {column} = %s", (start,))[0][0]


@pytest.mark.parametrize(("dag_id", "failing"), CASES,
                         ids=[f"{d}-{t or 'none'}" for d, t in CASES])
def test_run_state_audit_row_and_writes_agree(wh, dagbag, monkeypatch, fail_inserts, tmp_path,
                                              dag_id, failing):
    monkeypatch.setenv("AGENT_WAREHOUSE_REPORTS_DIR", str(tmp_path))
    monkeypatch.setenv("AGENT_WAREHOUSE_SIGNALS_PROVIDERS", "synthetic")
    seed(wh, dag_id)
    task_id = failing and failing.split(":")[0]
    if failing is not None:
        how, what = FAILURES[dag_id][failing]
        if how == "call":
            monkeypatch.setattr(what.replace(":", "."), injected)
        else:
            fail_inserts(what)

    dr = run(dagbag, dag_id, monkeypatch)
    rows = fetch(wh, "SELECT status, error FROM ops.job_runs WHERE dag_id = %s AND job_type = %s "
                     "AND workspace_id IS NULL", (dag_id, JOB_TYPE.get(dag_id, dag_id)))

    # 1. The run's state is the work tasks' outcome.
    assert dr.state == ("success" if failing is None else "failed")
    # 2. The audit row says the same, naming the failed task.
    if failing in BEFORE_AUDIT:
        assert rows == []  # the row could not be opened; no row claims anything
    else:
        ((status, error),) = rows
        assert status == dr.state, error
        if failing is None:
            assert error is None
        else:
            assert error.startswith("failed: " + task_id), error
        assert fetch(wh, "SELECT count(*) FROM ops.job_runs WHERE dag_id = %s "
                         "AND status IN ('queued', 'running')", (dag_id,)) == [(0,)]
    # 3. What was written: the period whole, or (its write failed) not at all.
    if dag_id == "hourly_rollup":
        if task_id in (None, "repair_changed_hours", "ingest_signals", "check_hours"):
            assert_exact(wh, H0)
        else:
            assert hourly_rows(wh, H0) == []
    elif dag_id in ("daily_rollup", "weekly_rollup"):
        main = {"daily_rollup": "rollup_days", "weekly_rollup": "rollup_weeks"}[dag_id]
        done = failing is None or FAILURES[dag_id][failing][0] == "call" and task_id not in ("start_audit", main)
        assert (period_written(wh, dag_id) > 0) == done, failing


def test_every_task_is_failed_in_turn(dagbag):
    """FAILURES names every task of every DAG but the teardown (failed on its own below)."""
    for dag_id, failures in FAILURES.items():
        tasks = {t.task_id for t in dagbag.get_dag(dag_id).tasks} - {"finish_audit"}
        assert tasks == {f.split(":")[0] for f in failures}, dag_id


def test_a_run_cannot_claim_another_runs_audit_row(wh, dagbag, monkeypatch):
    """conf {"job_run_id": <other row>} (the old trigger-form field) touches nothing of it."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    monkeypatch.setenv("AGENT_WAREHOUSE_SIGNALS_PROVIDERS", "synthetic")
    ws = seed(wh, "daily_signal_aggregation")[0]
    ((other,),) = fetch(wh, """
        INSERT INTO ops.job_runs (job_type, dag_id, run_id, workspace_id, status, started_at, finished_at,
                                  idempotency_key, inserted, companies_scored, ranked_count, rows_written)
        VALUES ('daily_aggregation', 'daily_signal_aggregation', 'api__other', %s, 'success',
                '2026-01-01 00:00+00', '2026-01-01 00:01+00', 'other-key', 7, 8, 9, 17)
        RETURNING id""", (ws,))
    before = fetch(wh, "SELECT * FROM ops.job_runs WHERE id = %s", (other,))
    # The row the internal API creates for the run id it triggers is the one this run uses.
    own_run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=SIGNALS_RUN_AT,
                                        run_after=SIGNALS_RUN_AT)
    ((own,),) = fetch(wh, """
        INSERT INTO ops.job_runs (job_type, dag_id, run_id, workspace_id, status, idempotency_key)
        VALUES ('daily_aggregation', 'daily_signal_aggregation', %s, %s, 'queued', 'own-key')
        RETURNING id""", (own_run_id, ws))

    dr = run(dagbag, "daily_signal_aggregation", monkeypatch, conf={"workspace_id": ws, "job_run_id": other})
    assert dr.state == "success"
    assert fetch(wh, "SELECT * FROM ops.job_runs WHERE id = %s", (other,)) == before
    assert fetch(wh, "SELECT id, run_id, status FROM ops.job_runs WHERE id <> %s", (other,)) == [
        (own, own_run_id, "success")]
    assert "job_run_id" not in dagbag.get_dag("daily_signal_aggregation").params


def test_rows_written_counts_writes_not_rows_present(wh, dagbag, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENT_WAREHOUSE_REPORTS_DIR", str(tmp_path))
    workspaces = [str(uuid.uuid4()) for _ in range(4)]
    insert_runs(wh, make_runs(random.Random(5), DAY_START, 400, workspaces, span=timedelta(days=7)))

    def written(dag_id: str) -> list[int]:
        return [r[0] for r in fetch(wh, "SELECT rows_written FROM ops.job_runs WHERE dag_id = %s "
                                        "ORDER BY id", (dag_id,))]

    for dag_id, at in (("hourly_rollup", RUN_AT), ("daily_rollup", DAILY_RUN_AT), ("weekly_rollup", WEEKLY_RUN_AT)):
        assert run(dagbag, dag_id, monkeypatch, run_at=at).state == "success"
        # The same period again, nothing changed in between: a new run (a minute later) writes 0.
        assert run(dagbag, dag_id, monkeypatch, run_at=at + timedelta(minutes=1)).state == "success"
        first, again = written(dag_id)
        print(f"{dag_id}: first run wrote {first} rows, the unchanged rerun {again}")
        assert first > 0 and again == 0, dag_id

    # A change, then a rerun: exactly the rows that changed are counted.
    with wh.cursor() as cur:
        cur.execute("DELETE FROM public.agent_runs WHERE workspace_id = %s AND started_at >= %s AND started_at < %s",
                    (workspaces[0], H0, H0 + HOUR))
        gone = cur.rowcount
    wh.commit()
    assert run(dagbag, "hourly_rollup", monkeypatch, run_at=RUN_AT + timedelta(minutes=2)).state == "success"
    last = written("hourly_rollup")[-1]
    print(f"hourly rerun after deleting {gone} runs of one workspace: {last} rows written")
    assert last > 0


def test_a_row_its_teardown_left_open_is_closed_by_the_next_run(wh, dagbag, monkeypatch):
    """If finish_audit itself fails (after its retries) and the audit listener cannot reach the
    warehouse either when the run ends, the run's state is still right but the row stays
    'running'; the next run's setup asks Airflow how that run ended and closes the row with
    that state (and who closed it)."""
    seed(wh, "hourly_rollup")
    monkeypatch.setattr("agent_warehouse.db.audit.finish_job", injected)
    monkeypatch.setattr("agent_warehouse.db.audit.follow_run_state", injected)
    first = run(dagbag, "hourly_rollup", monkeypatch)
    monkeypatch.undo()
    assert first.state == "success"  # a teardown's failure does not fail the run
    assert fetch(wh, "SELECT status FROM ops.job_runs WHERE run_id = %s", (first.run_id,)) == [("running",)]

    second = run(dagbag, "hourly_rollup", monkeypatch, run_at=RUN_AT + HOUR)
    assert second.state == "success"
    rows = fetch(wh, "SELECT run_id, status, error, details->>'closed_by_run' FROM ops.job_runs "
                     "WHERE dag_id = 'hourly_rollup' ORDER BY id")
    assert rows == [(first.run_id, "success", None, second.run_id), (second.run_id, "success", None, None)]


# ---------------------------------------------------------------- runs without a logical date
# POST /api/v2/dags/{id}/dagRuns with `logical_date: null` (the API's and the client's default)
# and `airflow dags trigger` make runs with no data interval; every DAG must still take the
# last period closed at the run's run_after (issue 17 §3).
NO_DATE_CONF = {"cleanup_old_data": {"raw_days": 3650, "hourly_days": 3650, "job_runs_days": 3650}}


@pytest.mark.parametrize("dag_id", list(RUN_AT_OF))
def test_a_run_without_a_logical_date_takes_the_last_period_closed_at_run_after(
        wh, dagbag, monkeypatch, tmp_path, dag_id):
    monkeypatch.setenv("AGENT_WAREHOUSE_REPORTS_DIR", str(tmp_path))
    monkeypatch.setenv("AGENT_WAREHOUSE_SIGNALS_PROVIDERS", "synthetic")
    seed(wh, dag_id)
    dag = dagbag.get_dag(dag_id)
    for t in dag.tasks:
        monkeypatch.setattr(t, "retries", 0)
    run_after = RUN_AT_OF[dag_id]
    conf = NO_DATE_CONF.get(dag_id)
    if dag_id == "daily_signal_aggregation":
        conf = {"workspace_id": None, "pack_id": None}
    # run_dag gives the tasks back their params: this conf must not reach later tests' runs
    dr = run_dag(dagbag, dag_id, run_after, monkeypatch, conf=conf, no_logical_date=True)

    assert dr.logical_date is None and dr.data_interval_start is None  # as the API makes it
    failed = fetch(wh, "SELECT error FROM ops.job_runs WHERE dag_id = %s AND status <> 'success'", (dag_id,))
    assert dr.state == "success", failed
    import pendulum

    expected = dag.timetable.infer_manual_data_interval(run_after=pendulum.instance(run_after))
    periods = fetch(wh, "SELECT period_start, period_end FROM ops.job_runs WHERE dag_id = %s "
                        "AND workspace_id IS NULL", (dag_id,))
    assert periods == [(expected.start, expected.end)], (dag_id, periods)
    if dag_id == "hourly_rollup":
        assert expected.start == H0
        assert_exact(wh, H0)
    elif dag_id in ("daily_rollup", "weekly_rollup"):
        assert period_written(wh, dag_id) > 0


def test_the_period_of_a_run_without_a_logical_date_is_the_timetables_manual_one():
    """The rule itself (timetables.run_period), for every DAG's timetable and a spread of
    run_after instants, against Airflow's own inference for manual runs."""
    import pendulum

    from agent_warehouse.orchestration.timetables import ClosedPeriodTimetable, run_period

    class Run:
        def __init__(self, run_after):
            self.run_after = run_after

    class Dag:
        def __init__(self, timetable):
            self.timetable = timetable

    rng = random.Random(17)
    for cron, delay in (("0 * * * *", timedelta(minutes=5)), ("0 0 * * *", timedelta(hours=1)),
                        ("0 0 * * 1", timedelta(hours=2)), ("*/15 * * * *", timedelta(0))):
        timetable = ClosedPeriodTimetable(cron, delay)
        for _ in range(50):
            at = pendulum.instance(DAY_START + timedelta(seconds=rng.randrange(0, 30 * 86400)))
            start, end = run_period({"dag_run": Run(at), "dag": Dag(timetable)})
            assert end <= at < end + {"0 * * * *": HOUR, "0 0 * * *": timedelta(days=1),
                                      "0 0 * * 1": timedelta(days=7), "*/15 * * * *": timedelta(minutes=15)}[cron]
            assert (start, end) == tuple(timetable.infer_manual_data_interval(run_after=at))
        # A run with a data interval keeps it.
        assert run_period({"data_interval_start": H0, "data_interval_end": H0 + HOUR}) == (H0, H0 + HOUR)


# ---------------------------------------------------------------- Airflow 3.3.2's clear bug
def test_the_clear_workaround_is_needed_and_applied_until_airflow_fixes_it():
    """apache/airflow#70368: clearing a run whose DAGRUN_QUEUED_AT deadline is pending answers
    500 in Airflow 3.3.0 to 3.3.2. The package replaces the broken function while it is broken.
    When this test fails with "no longer has the bug", the installed Airflow has the fix (PR
    #70370): remove the workaround (orchestration/deadlines.py) and this test."""
    from datetime import timedelta as td

    import airflow
    from airflow.models import taskinstance

    from agent_warehouse.orchestration import deadlines

    original = getattr(taskinstance._recalculate_dagrun_queued_at_deadlines, "__wrapped__",
                       taskinstance._recalculate_dagrun_queued_at_deadlines)
    assert deadlines.clear_deadline_bug_present(original), (
        f"Airflow {airflow.__version__} no longer has the bug apache/airflow#70368: remove the "
        "workaround in agent_warehouse/orchestration/deadlines.py, its call in timetables.py and "
        "listeners.py, and this test")

    # The bug as the api-server meets it: the interval column is JSON (serde envelope).
    class Alert:
        interval = {"__classname__": "datetime.timedelta", "__version__": 2, "__data__": 300.0}
        reference = {"reference_type": "DagRunQueuedAtDeadline"}
        callback_def = {}

    class Deadline:
        deadline_time = None

    class Result:
        def __init__(self, rows):
            self.rows = rows

        def all(self):
            return self.rows

    class Session:
        def __init__(self, rows):
            self.rows = rows

        def execute(self, _query):
            return Result(self.rows)

    class Run:
        id, dag_id, run_id = 1, "d", "r"

    with pytest.raises(TypeError, match="dict"):
        original(Run(), DAY_START, Session([(Deadline(), Alert())]))

    assert deadlines.fix_clear_with_pending_deadline()
    assert taskinstance._recalculate_dagrun_queued_at_deadlines.__wrapped__ is original
    deadline = Deadline()
    deadlines._recalculate_queued_at_deadlines(Run(), DAY_START, Session([(deadline, Alert())]))
    assert deadline.deadline_time == DAY_START + td(minutes=5)


def test_a_failed_work_task_leaves_no_xcom_error_in_the_teardowns_log(wh, dagbag, monkeypatch, fail_inserts,
                                                                        capfd, caplog):
    """The teardown reads the recorded outputs as sequences: a failed task's missing output
    is no error (it logged "XCom not found" in every failed run, issue 17 §3)."""
    seed(wh, "hourly_rollup")
    fail_inserts("user_activity_hourly")
    dr = run(dagbag, "hourly_rollup", monkeypatch)
    assert dr.state == "failed"
    assert fetch(wh, "SELECT status FROM ops.job_runs WHERE run_id = %s", (dr.run_id,)) == [("failed",)]
    out = capfd.readouterr()
    assert "XCom not found" not in out.out + out.err + caplog.text
