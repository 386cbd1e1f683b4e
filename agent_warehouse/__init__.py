"""Agent warehouse: the importable code behind the rollup and signal DAGs.

DAG files stay thin and import from here; SQL lives in ``include/sql``.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "include" / "sql"
