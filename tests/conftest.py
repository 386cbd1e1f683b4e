"""Test set-up shared by every test: Airflow's environment, set before anything imports airflow.

Unit tests (tests/unit) need nothing else; tests/integration/conftest.py adds the
embedded PostgreSQL, a private metadata database and warehouse, and the fixtures on them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the developer tools (tools/) are not part of the installed package

os.environ.update({
    "AIRFLOW_HOME": tempfile.mkdtemp(prefix="airflow-test-home-"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    # Keep Airflow's retries, but do not sleep through their back-off in tests.
    "AGENT_WAREHOUSE_RETRY_DELAY_SECONDS": "1",
})
