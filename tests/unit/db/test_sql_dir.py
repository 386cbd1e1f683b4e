"""Where the package finds its SQL: one setting, the checkout's include/sql by default (no database)."""

import os
import subprocess
import sys

from support import ROOT


def sql_dir(**env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "AGENT_WAREHOUSE_SQL_DIR"} | env
    return subprocess.run([sys.executable, "-c", "import agent_warehouse; print(agent_warehouse.SQL_DIR)"],
                          env=environ, capture_output=True, text=True, check=True).stdout.strip()


def test_the_checkout_sql_by_default_and_the_setting_when_given(tmp_path):
    assert sql_dir() == str(ROOT / "include" / "sql")
    assert sql_dir(AGENT_WAREHOUSE_SQL_DIR=str(tmp_path)) == str(tmp_path)
