"""Agent warehouse: the importable code behind the rollup and signal DAGs.

The DAGs themselves are built here (``agent_warehouse.orchestration.dags``); a deployment's
DAGs folder holds one short file per DAG that calls the factory. The SQL files are package
data: the package ``agent_warehouse.sql``, mapped by ``pyproject.toml`` to the repository's
``include/sql``, read through ``importlib.resources``. ``AGENT_WAREHOUSE_SQL_DIR`` overrides
the folder (a deployment testing changed SQL without rebuilding the wheel).
"""

import os
from importlib import resources
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _sql_dir() -> Path:
    override = os.environ.get("AGENT_WAREHOUSE_SQL_DIR")
    if override:
        return Path(override)
    try:
        # A filesystem path, not just a Traversable: Airflow's template_searchpath needs a folder.
        return Path(str(resources.files("agent_warehouse.sql")))
    except ModuleNotFoundError:  # a source checkout on sys.path, never installed
        return PROJECT_ROOT / "include" / "sql"


SQL_DIR = _sql_dir()
