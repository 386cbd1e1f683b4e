"""Agent warehouse: the importable code behind the rollup and signal DAGs.

DAG files stay thin and import from here. The SQL is not Python: it lives in
``include/sql`` beside the DAGs, found through one setting, ``AGENT_WAREHOUSE_SQL_DIR``
(default: the checkout's ``include/sql``). A worker image that installs the package
elsewhere ships ``include/sql`` with the DAGs and points the setting at it.
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = Path(os.environ.get("AGENT_WAREHOUSE_SQL_DIR") or PROJECT_ROOT / "include" / "sql")
