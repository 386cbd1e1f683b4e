"""`airflow ... -o json` prints JSON and nothing else on stdout (issue: a graphviz warning and
a Starlette deprecation were printed there). The Makefile and `make up` both export the
warning filters in tools.airflow_services.QUIET_WARNINGS."""

from __future__ import annotations

import json
import os
import subprocess

from support import ROOT
from support.services import AIRFLOW
from tools.airflow_services import QUIET_WARNINGS


def test_the_makefile_exports_the_same_warning_filters():
    exported = [line for line in (ROOT / "Makefile").read_text().splitlines()
                if line.startswith("export PYTHONWARNINGS")]
    assert exported == [f"export PYTHONWARNINGS ?= {QUIET_WARNINGS}"]


def test_dags_list_json_is_valid_json_on_stdout(airflow_db, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": QUIET_WARNINGS, "AIRFLOW_HOME": str(tmp_path)}
    done = subprocess.run([AIRFLOW, "dags", "list", "-o", "json"], env=env, capture_output=True, text=True,
                          timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert isinstance(json.loads(done.stdout), list)  # nothing but JSON on stdout
    assert "graphviz" not in done.stdout and "Starlette" not in done.stdout
