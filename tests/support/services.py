"""The tests' Airflow: one ``Stack`` of real services per session, started by the same code as
``make up`` (tools.airflow_services), plus the docker-compose reader and the audit-listener
plugin helper the deploy and orchestration tests use."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.airflow_services import AIRFLOW, SERVICES, Services, free_port, prepare_metadata
from tools.airflow_services import wait as wait_for  # noqa: F401 - the tests' name for it


@contextmanager
def private_metadata_db(name: str, env: dict[str, str]) -> Iterator[str]:
    """A fresh Airflow metadata database for services under test: the session's one holds
    dag.test() runs and paused DAGs that a real scheduler would pick up or wait on."""
    from tools import devdb

    devdb.drop_database(name)
    devdb.ensure_database(name)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = devdb.sqlalchemy_uri(name)
    try:
        prepare_metadata(env)
        yield devdb.sqlalchemy_uri(name)
    finally:
        devdb.drop_database(name)


class Stack:
    """One local Airflow for the whole test session, started the way ``make up`` starts it
    (tools.airflow_services.Services: api-server, scheduler, dag-processor, triggerer,
    LocalExecutor), on a private metadata database and the session's test warehouse.

    Started on first use and stopped when the test process exits: the service tests of
    several modules (backfill, API runs, browser) share it instead of paying ~40 s each.
    The DAGs' start date is far in the future, so only what a test starts ever runs.
    """

    def __init__(self, extra_env: dict[str, str] | None = None, name: str = "svc",
                 dags: tuple[str, ...] = ("hourly_rollup", "daily_rollup", "daily_signal_aggregation")) -> None:
        """``extra_env`` overrides the services' settings (a module that needs other ones
        starts its own Stack, with its own ``name`` for the metadata database)."""
        import tempfile
        from contextlib import ExitStack

        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="aw-services-"))
        self.meta_db = f"test_meta_{name}_{os.getpid()}"
        self.reports_dir = self.home / "reports"
        env = dict(os.environ)
        env.pop("AGENT_WAREHOUSE_DEADLINES", None)  # the scheduler path keeps deadlines on
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_ADMIN_PASSWORD": "admin-test-password",
            "AGENT_WAREHOUSE_START_DATE": "2099-01-01T00:00:00+00:00",
            "AGENT_WAREHOUSE_SIGNALS_PROVIDERS": "synthetic",
            "AGENT_WAREHOUSE_REPORTS_DIR": str(self.reports_dir),
        })
        env.update(extra_env or {})
        self._exit = ExitStack()
        try:
            self._exit.enter_context(private_metadata_db(self.meta_db, env))
            self.svc = Services(self.home, self.port, env)
            self._exit.callback(self.svc.stop)  # runs before the database is dropped
            self.svc.start()
            self.svc.wait_healthy()
            self.api = self.svc.client()
            self.svc.wait_dags(self.api, dags)
        except BaseException:
            self._exit.close()
            raise
        self.env = self.svc.env()
        self.token = self.env["INTERNAL_JOB_TOKEN"]
        self.password, _ = self.svc.password()
        self.base = self.svc.local_url

    def meta(self, query: str, params: tuple = ()) -> list[tuple]:
        """Rows from the services' metadata database."""
        import psycopg

        from tools import devdb

        conn = psycopg.connect(dbname=self.meta_db, user="postgres", host=devdb.socket_dir())
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall()
        finally:
            conn.close()

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """An ``airflow`` CLI command against these services; must succeed."""
        done = subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done

    def logs(self, lines: int = 25) -> str:
        return self.svc.tails(SERVICES, lines)

    def close(self) -> None:
        self._exit.close()


_SHARED: dict[str, Stack] = {}


def shared_stack() -> Stack:
    """The session's services (started once, stopped at exit)."""
    if "stack" not in _SHARED:
        import atexit

        _SHARED["stack"] = Stack()
        atexit.register(_SHARED["stack"].close)
    return _SHARED["stack"]


# ---------------------------------------------------------------- docker-compose.yaml, as Docker reads it
# The image's entrypoint runs `python ...`, `bash ...` as given and any other command as
# `airflow <command>` (Airflow's docker-compose and image docs).
DIRECT_COMMANDS = ("python", "python3", "bash", "sh")
COMPOSE_FILE = Path(__file__).resolve().parent.parent.parent / "docker-compose.yaml"
_VAR = re.compile(r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


class ComposeError(ValueError):
    """What `docker compose` itself would refuse (a required variable missing, for example)."""


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
    ``${VAR:?error}``, ``${VAR?error}``, with defaults that nest further ``${...}``."""
    out: list[str] = []
    i = 0
    while True:
        m = _VAR.search(text, i)
        if not m:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:m.start()])
        if m.group(0) == "$$":
            out.append("$")
            i = m.end()
            continue
        if m.group("bare"):
            out.append(variables.get(m.group("bare"), ""))
            i = m.end()
            continue
        name, op, j = m.group("braced"), m.group("op"), m.end()
        arg_start, depth = j, 1
        while depth:  # the matching brace, past nested ${...}
            if j >= len(text):
                raise ComposeError(f"unclosed ${{ in {text!r}")
            if text.startswith("${", j):
                depth, j = depth + 1, j + 2
                continue
            depth -= text[j] == "}"
            j += 1
        arg = text[arg_start:j - 1]
        value = variables.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op and op.endswith("-") and unset:
            value = interpolate(arg, variables)
        elif op and op.endswith("?") and unset:
            raise ComposeError(f"required variable {name} is missing a value: {interpolate(arg, variables)}")
        out.append(value or "")
        i = j


def _interpolated(node: Any, variables: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_interpolated(v, variables) for v in node]
    if isinstance(node, dict):
        return {k: _interpolated(v, variables) for k, v in node.items()}
    return node


def read_env_file(path: Path) -> dict[str, str]:
    """A compose ``.env``: KEY=VALUE lines, ``#`` comments."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def compose_raw(path: Path = COMPOSE_FILE) -> dict:
    """The file as written (anchors and merge keys resolved, nothing interpolated)."""
    import yaml

    return yaml.safe_load(path.read_text())


@dataclass
class ComposeService:
    name: str
    argv: list[str]  # what the container executes, after the image's entrypoint
    environment: dict[str, str]
    user: str | None
    secrets: list[str]
    replicas: int
    volumes: list[str] = field(default_factory=list)


def compose_services(variables: dict[str, str], path: Path = COMPOSE_FILE) -> dict[str, ComposeService]:
    """Every service as ``docker compose`` would run it with ``variables`` (the project's .env)."""
    config = _interpolated(compose_raw(path), variables)
    services = {}
    for name, svc in config["services"].items():
        command = svc.get("command") or []
        words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
        if "entrypoint" in svc:
            entry = svc["entrypoint"]
            words = (shlex.split(entry) if isinstance(entry, str) else list(entry)) + words
        elif words and words[0] not in DIRECT_COMMANDS:
            words = ["airflow", *words]
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        services[name] = ComposeService(
            name=name, argv=words, environment={k: "" if v is None else str(v) for k, v in env.items()},
            user=svc.get("user"), secrets=[s if isinstance(s, str) else s["source"] for s in svc.get("secrets", [])],
            replicas=int((svc.get("deploy") or {}).get("replicas", 1)), volumes=list(svc.get("volumes", [])))
    return services


AUDIT_LISTENER_PLUGIN = """from airflow.plugins_manager import AirflowPlugin

from agent_warehouse.orchestration import listeners


class AuditListenerForTests(AirflowPlugin):
    name = "agent_warehouse_audit_listener_tests"
    listeners = [listeners]
"""


def plugins_with_audit_listener(folder: Path) -> dict[str, str]:
    """A plugins folder with the project's plugin files and, if no installed plugin registers
    it yet, one that registers the audit listener (agent_warehouse.orchestration.listeners).
    Returns the environment that points the services at it."""
    from airflow import plugins_manager

    folder.mkdir(parents=True, exist_ok=True)
    project = Path(os.environ.get("AIRFLOW__CORE__PLUGINS_FOLDER", ""))
    if project.is_dir():
        for path in project.glob("*.py"):
            (folder / path.name).symlink_to(path)
    registered = any("agent_warehouse.orchestration.listeners" in (info.get("listeners") or [])
                     for info in plugins_manager.get_plugin_info())
    if not registered:
        (folder / "audit_listener_for_tests.py").write_text(AUDIT_LISTENER_PLUGIN)
    return {"AIRFLOW__CORE__PLUGINS_FOLDER": str(folder)}
