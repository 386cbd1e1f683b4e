"""The scheduler imports the package once (listeners.on_starting), so every task process its
LocalExecutor forks starts with it imported; other Airflow jobs do not (no database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Airflow's listener manager, as Job.__init__ calls it, in a fresh interpreter whose argv is
# the command's; prints which task-side and web modules are then imported.
PROBE = """
import json, sys
sys.argv = ["airflow", *sys.argv[1:]]
from airflow.listeners.listener import get_listener_manager
get_listener_manager().hook.on_starting(component=None)
print(json.dumps({m: m in sys.modules for m in (
    "agent_warehouse.rollups.hourly", "agent_warehouse.orchestration.dags.hourly_rollup",
    "agent_warehouse.checks.tasks", "agent_warehouse.web.internal_api")}))
"""


def _probe(command: str) -> dict[str, bool]:
    done = subprocess.run([sys.executable, "-c", PROBE, command], env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_scheduler_preloads_what_tasks_run_but_not_the_web_apps():
    loaded = _probe("scheduler")
    assert loaded == {"agent_warehouse.rollups.hourly": True, "agent_warehouse.orchestration.dags.hourly_rollup": True,
                      "agent_warehouse.checks.tasks": True, "agent_warehouse.web.internal_api": False}


@pytest.mark.parametrize(("command", "env", "preloads"), [
    ("scheduler", {}, True), ("dag-processor", {}, False), ("triggerer", {}, False),
    ("scheduler", {"AGENT_WAREHOUSE_PRELOAD": "false"}, False)])
def test_only_the_scheduler_preloads_and_the_setting_turns_it_off(monkeypatch, command, env, preloads):
    from agent_warehouse.orchestration import listeners

    calls = []
    monkeypatch.setattr(listeners, "preload", lambda: calls.append(command) or [])
    monkeypatch.setattr(sys, "argv", ["airflow", command])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    listeners.on_starting(component=None)
    assert calls == ([command] if preloads else [])
