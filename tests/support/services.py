"""Start real Airflow services (api-server, scheduler, dag-processor, workers) as processes
for integration tests, and always stop them again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(port: int, home: Path, **extra: str) -> dict[str, str]:
    """The test process's Airflow settings plus what the services need to find each other."""
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": "admin"}))
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__API_AUTH__JWT_SECRET": "integration-test-secret",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AGENT_WAREHOUSE_CATCHUP": "false",
    })
    env.update(extra)
    return env


@contextmanager
def private_metadata_db(name: str, env: dict[str, str]) -> Iterator[str]:
    """A fresh Airflow metadata database for services under test: the session's one holds
    dag.test() runs and paused DAGs that a real scheduler would pick up or wait on."""
    from tools import devdb

    devdb.drop_database(name)
    devdb.ensure_database(name)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = devdb.sqlalchemy_uri(name)
    try:
        for cmd in (["db", "migrate"], ["pools", "set", "warehouse_writers", "4", "warehouse writers"]):
            done = subprocess.run([AIRFLOW, *cmd], env=env, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        yield devdb.sqlalchemy_uri(name)
    finally:
        devdb.drop_database(name)


@contextmanager
def services(commands: list[list[str]], env: dict[str, str], logdir: Path) -> Iterator[list[subprocess.Popen]]:
    """Run each ``airflow <command>`` in its own process group; kill them all on exit."""
    procs: list[subprocess.Popen] = []
    logdir.mkdir(parents=True, exist_ok=True)
    try:
        for cmd in commands:
            log = open(logdir / f"{cmd[0]}.log", "wb")  # noqa: SIM115 - closed with the process
            procs.append(subprocess.Popen([AIRFLOW, *cmd], env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def wait_for(check: Any, timeout: float, what: str, interval: float = 1.0) -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


class Api:
    """A small client for Airflow's REST API v2 (token from /auth/token)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.base, timeout=30)

    def healthy(self) -> bool:
        return self.client.get("/api/v2/monitor/health").status_code == 200

    def login(self) -> None:
        r = self.client.post("/auth/token", json={"username": "admin", "password": "admin"})
        r.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def post(self, path: str, body: dict) -> httpx.Response:
        return self.client.post(path, json=body)

    def patch(self, path: str, body: dict) -> httpx.Response:
        return self.client.patch(path, json=body)
