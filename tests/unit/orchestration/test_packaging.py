"""The package is the product (issue 18): SQL as package data, DAGs built by the package,
DAG files of one import and one call, the plugin registered once (no database)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DAG_IDS = {"hourly_rollup", "daily_rollup", "weekly_rollup", "cleanup_old_data",
           "refresh_materialized_views", "daily_signal_aggregation"}


def _python(code: str, cwd: Path, **env: str) -> str:
    """``code`` in a fresh interpreter of this venv, away from the checkout's sys.path entry."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("AGENT_WAREHOUSE_SQL_DIR", "PYTHONPATH")} | env
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_every_package_is_in_the_wheel():
    """pyproject lists the packages (agent_warehouse.sql is mapped from include/sql): a new
    package under agent_warehouse/ must be listed, or the wheel silently lacks it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "agent_warehouse").rglob("__init__.py")}
    assert set(config["packages"]) == found | {"agent_warehouse.sql"}
    assert config["package-dir"] == {"agent_warehouse.sql": "include/sql"}


def test_sql_is_package_data_found_outside_the_checkout(tmp_path):
    """Imported from elsewhere (the editable install's finder, as a worker would), the SQL
    folder is the package's ``agent_warehouse.sql`` and holds every file of include/sql."""
    out = json.loads(_python(
        "import json, agent_warehouse; from importlib import resources; "
        "print(json.dumps([str(agent_warehouse.SQL_DIR), str(resources.files('agent_warehouse.sql'))]))",
        cwd=tmp_path))
    assert out[0] == out[1]
    sql = Path(out[0])
    assert sorted(p.relative_to(sql) for p in sql.rglob("*.sql")) == \
        sorted(p.relative_to(ROOT / "include/sql") for p in (ROOT / "include/sql").rglob("*.sql"))


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_dag_file_is_one_import_and_one_call(dag_id):
    """What a deployment adds to its DAGs folder: a docstring, the factory's import and the
    call (the DAG in the module's globals); Airflow's discovery heuristic must read it."""
    from airflow.utils.file import might_contain_dag_via_default_heuristic

    path = ROOT / "dags" / f"{dag_id}.py"
    tree = ast.parse(path.read_text())
    doc, imported, assigned = tree.body
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
    assert isinstance(imported, ast.ImportFrom) and imported.module == "agent_warehouse.orchestration.dags"
    assert [a.name for a in imported.names] == [dag_id]
    assert ast.unparse(assigned) == f"dag = {dag_id}.build()"
    assert might_contain_dag_via_default_heuristic(str(path))
    assert len(path.read_text().splitlines()) <= 6


def test_dag_files_are_exactly_the_package_dags():
    assert {p.stem for p in (ROOT / "dags").glob("*.py")} == DAG_IDS
    assert {p.stem for p in (ROOT / "agent_warehouse/orchestration/dags").glob("*.py")} == DAG_IDS | {"__init__"}


PLUGINS = """
import json
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
print(json.dumps({"names": [p.name for p in plugins], "errors": errors,
                  "timetables": [t.__name__ for p in plugins for t in p.timetables],
                  "sources": [str(p.source) for p in plugins]}))
"""


def test_plugin_registers_once_with_folder_and_entry_point(tmp_path):
    """This repository sets the plugins folder AND installs the package: Airflow must load the
    plugin once, from the entry point, with no "already registered" import error."""
    out = json.loads(_python(PLUGINS, cwd=tmp_path, AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins")))
    assert out["names"].count("agent_warehouse") == 1, out
    assert out["errors"] == {}
    assert "ClosedPeriodTimetable" in out["timetables"]
    assert any("agent_warehouse.orchestration.plugin" in s for s in out["sources"]), out["sources"]


def test_plugins_folder_alone_registers_it(monkeypatch):
    """A folder-based deployment (package on sys.path, not installed): the folder's file
    registers the plugin."""
    from airflow._shared.plugins_manager.plugins_manager import _load_plugins_from_plugin_directory

    from agent_warehouse.orchestration import plugin

    monkeypatch.setattr(plugin, "registered_by_entry_point", lambda: False)
    plugins, errors = _load_plugins_from_plugin_directory(str(ROOT / "plugins"))
    assert [p.name for p in plugins] == ["agent_warehouse"] and errors == {}
    monkeypatch.setattr(plugin, "registered_by_entry_point", lambda: True)
    plugins, errors = _load_plugins_from_plugin_directory(str(ROOT / "plugins"))
    assert plugins == [] and errors == {}
