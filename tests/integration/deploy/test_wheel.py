"""The wheel is the product (issue 18 §2): built by `python -m build`, installed with the
pinned requirements into a fresh venv, run in a fresh AIRFLOW_HOME whose DAGs folder holds
only the short files of dags/ and whose plugins folder is empty. Nothing of the checkout
is on sys.path there: the SQL, the templates, the plugin and the DAGs come from the wheel.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from support import ROOT
from support.checks import H0, assert_exact
from tools import devdb
from tools.synthetic import insert_runs, make_runs

pytestmark = pytest.mark.package
DAG_IDS = {"hourly_rollup", "daily_rollup", "weekly_rollup", "cleanup_old_data",
           "refresh_materialized_views", "daily_signal_aggregation"}
TIMINGS: dict[str, float] = {}


def _run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path, what: str,
         timeout: int = 600) -> subprocess.CompletedProcess:
    began = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    TIMINGS[what] = round(time.perf_counter() - began, 1)
    assert done.returncode == 0, f"{what}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """The built wheel installed in a fresh venv, a fresh AIRFLOW_HOME, and fresh metadata
    and warehouse databases on the embedded server."""
    base = tmp_path_factory.mktemp("wheel")
    egg_info = ROOT / "agent_warehouse.egg-info"
    had_egg_info = egg_info.exists()
    _run([sys.executable, "-m", "build", "--outdir", str(base / "dist"), str(ROOT)], cwd=base, what="build")
    if not had_egg_info:
        # setuptools leaves it in the checkout; on sys.path (the repo root) it is a second
        # installed copy of the package, and Airflow would load the plugin's entry point twice.
        shutil.rmtree(egg_info, ignore_errors=True)
    (wheel,) = (base / "dist").glob("agent_warehouse-*.whl")
    venv = base / "venv"
    # uv, not pip: the same pinned set installs in seconds from uv's cache instead of about
    # three minutes of pip unpacking and compiling Airflow (the test is about the wheel).
    uv = str(Path(sys.executable).parent / "uv")
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=base, what="venv")
    _run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin/python"),
          "-r", str(ROOT / "requirements.txt"), str(wheel)], cwd=base, what="pip install")
    home = base / "airflow"
    (home / "dags").mkdir(parents=True)
    (home / "plugins").mkdir()
    for f in (ROOT / "dags").glob("*.py"):
        shutil.copy(f, home / "dags")
    meta, wh = f"test_wheel_meta_{os.getpid()}", f"test_wheel_wh_{os.getpid()}"
    devdb.ensure_database(meta)
    devdb.ensure_database(wh)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "AGENT_WAREHOUSE_", "PYTHON", "VIRTUAL_ENV"))}
    env |= {"PATH": f"{venv / 'bin'}:{env.get('PATH', '')}", "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": devdb.sqlalchemy_uri(meta),
            "AIRFLOW_CONN_WAREHOUSE": devdb.connection_uri(wh),
            "PYTHONWARNINGS": "ignore"}
    _run([str(venv / "bin/airflow"), "db", "migrate"], env=env, cwd=base, what="airflow db migrate")
    yield {"base": base, "venv": venv, "env": env, "warehouse": wh}
    for name in (meta, wh):
        try:
            devdb.drop_database(name)
        except Exception as exc:  # leave it for the next run rather than fail the suite
            print(f"could not drop {name}: {exc}", file=sys.stderr)
    print("wheel test timings (s):", json.dumps(TIMINGS), file=sys.stderr)


def _airflow(d, *args: str, what: str, **env: str) -> subprocess.CompletedProcess:
    return _run([str(d["venv"] / "bin/airflow"), *args], env={**d["env"], **env}, cwd=d["base"], what=what)


def test_the_package_and_its_sql_come_from_the_wheel(deployment):
    out = _run([str(deployment["venv"] / "bin/python"), "-c",
                "import agent_warehouse, json; print(json.dumps([agent_warehouse.__file__, str(agent_warehouse.SQL_DIR)]))"],
               env=deployment["env"], cwd=deployment["base"], what="import").stdout
    package, sql = json.loads(out.strip().splitlines()[-1])
    site = str(deployment["venv"] / "lib")
    assert package.startswith(site) and sql.startswith(site) and sql.endswith("agent_warehouse/sql")
    assert len(list(Path(sql).rglob("*.sql"))) == len(list((ROOT / "include/sql").rglob("*.sql")))
    assert (Path(package).parent / "reports/templates/daily.html.j2").is_file()


def test_dags_list_shows_the_six_dags_without_import_errors(deployment):
    # `dags list` reads the metadata database: parse the DAGs folder into it, as a dag-processor would.
    _airflow(deployment, "dags", "reserialize", what="dags reserialize")
    listed = json.loads(_airflow(deployment, "dags", "list", "-o", "json", what="dags list").stdout)
    assert {d["dag_id"] for d in listed} == DAG_IDS
    errors = _airflow(deployment, "dags", "list-import-errors", "-o", "json", what="list-import-errors").stdout
    assert json.loads(errors or "[]") in ([], {}), errors


def test_airflow_plugins_lists_the_plugin_and_its_timetable(deployment):
    plugins = json.loads(_airflow(deployment, "plugins", "-o", "json", what="plugins").stdout)
    (ours,) = [p for p in plugins if p["name"] == "agent_warehouse"]
    assert "ClosedPeriodTimetable" in json.dumps(ours["timetables"])
    assert "agent_warehouse.orchestration.plugin" in ours["source"]  # the entry point, no plugins folder


def test_migrations_then_dags_test_hourly_rollup_is_exact(deployment):
    from agent_warehouse.db import connect, dsn_from_airflow_uri

    _run([str(deployment["venv"] / "bin/python"), "-m", "agent_warehouse.db.migrations"],
         env=deployment["env"], cwd=deployment["base"], what="migrations")
    conn = connect(dsn_from_airflow_uri(devdb.connection_uri(deployment["warehouse"])))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ops.schema_migrations")
            applied = cur.fetchone()[0]
        conn.rollback()
        assert applied == len(list((ROOT / "include/sql/migrations").glob("*.sql")))
        insert_runs(conn, make_runs(random.Random(18), H0, 400, [str(uuid.uuid4()) for _ in range(3)]))
        # As the Makefile runs it: `dags test` without DeadlineAlerts (Airflow 3.3.2 fails them there).
        _airflow(deployment, "dags", "test", "hourly_rollup", "2026-01-05T10:05:00+00:00",
                 what="dags test", AGENT_WAREHOUSE_DEADLINES="off")
        assert_exact(conn, H0)
    finally:
        conn.close()
