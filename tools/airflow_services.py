"""``make up`` / ``make down``: a local Airflow on the same databases as ``make demo``.

``up`` starts api-server, scheduler, dag-processor and triggerer in the background
(LocalExecutor, sized for 2 cores), waits until ``/api/v2/monitor/health`` reports every
component healthy, unpauses the DAGs a person tries first, runs the demo's day through
the scheduler as backfills when ``make demo`` loaded it, and prints the URL, the login and
where the logs are. A second ``up`` reports what already runs. ``down`` stops exactly the
processes ``up`` started (their pids and start times are kept in ``$AIRFLOW_HOME/services``).

The one launcher of the project: the tests' ``Stack`` (tests/support/services.py) and the
benchmark's scheduler run (tools/bench_backfill.py) start their services through
``Services`` too, and ``make airflow-db`` prepares the metadata database with
``prepare_metadata``. What it adds to Airflow's own commands: docs/development.md,
"Why a launcher of our own".

The caller (the Makefile) exports ``AIRFLOW_HOME``, the DAGs and plugins folders and the
databases (``tools.devdb env``); everything else in the environment, ``INTERNAL_JOB_TOKEN``
and ``AGENT_WAREHOUSE_*`` included, reaches every service unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from tools import PROJECT_ROOT, TOOLS_SQL

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
USER = "admin"
# Unpaused at start: the signal job (the UI's Trigger button and the API need it running)
# and the rollups the demo's backfills run through. cleanup_old_data stays paused: it
# would drop the demo's raw day, which is older than the raw retention.
UNPAUSED = ("daily_signal_aggregation", "hourly_rollup", "daily_rollup")
# The demo's day (tools/demo.py) and the DAGs that roll it up, as backfills.
DEMO_BACKFILLS = (("hourly_rollup", timedelta(hours=23)), ("daily_rollup", timedelta(0)),
                  ("daily_signal_aggregation", timedelta(0)))
# Warnings some Airflow imports print on stdout, which breaks `-o json` output.
QUIET_WARNINGS = ("ignore:Could not import graphviz:UserWarning,"
                  "ignore:Using `httpx` with `starlette.testclient` is deprecated")


class Services:
    """The processes of one local Airflow: their environment, state folder and pids."""

    def __init__(self, home: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.home = Path(home)
        self.port = port
        self.state = self.home / "services"
        self.logs = self.state / "logs"
        self.base_env = dict(os.environ if env is None else env)
        self.url = f"http://localhost:{port}"
        self.local_url = f"http://127.0.0.1:{port}"  # what this host's clients call

    # ------------------------------------------------------------------ state files
    def _state(self) -> dict[str, Any]:
        """What Airflow does not generate, made once per AIRFLOW_HOME and reused: the project's
        internal-API token and the log-server ports (free ones, so two homes on one machine,
        or two test sessions, do not fight over Airflow's fixed 8793/8794). The JWT secret,
        the API secret key and the Fernet key Airflow writes into airflow.cfg itself, on the
        first command run in the home (``reserialize`` or ``db migrate``, before any service)."""
        path = self.state / "secrets.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        wanted: dict[str, Callable[[], Any]] = {
            "internal_job_token": lambda: secrets.token_urlsafe(24),
            "worker_log_server_port": free_port,
            "trigger_log_server_port": free_port,
        }
        missing = {name: make() for name, make in wanted.items() if not known.get(name)}
        if missing:
            known.update(missing)
            self.state.mkdir(parents=True, exist_ok=True)
            _write_private(path, json.dumps(known))
        return known

    def password(self) -> tuple[str, bool]:
        """The admin password: AIRFLOW_ADMIN_PASSWORD, else the one generated earlier, else a
        new one. Written where SimpleAuthManager reads it. Returns (password, generated)."""
        path = self.state / "passwords.json"
        given = self.base_env.get("AIRFLOW_ADMIN_PASSWORD")
        known = json.loads(path.read_text()) if path.exists() else {}
        password = given or known.get(USER) or secrets.token_urlsafe(12)
        if known.get(USER) != password:
            self.state.mkdir(parents=True, exist_ok=True)
            _write_private(path, json.dumps({USER: password}))
        return password, not given

    def env(self) -> dict[str, str]:
        """What every service gets: the caller's environment plus the local-deployment settings
        (a value the caller set wins, except the ones the services must agree on)."""
        keys = self._state()
        env = dict(self.base_env)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        defaults = {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",  # task processes: twice the pool of 2 cores, see docs/operations.md
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "INTERNAL_JOB_TOKEN": keys["internal_job_token"],
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(keys["worker_log_server_port"]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(keys["trigger_log_server_port"]),
            # The same providers as `make demo`, so the UI's and the API's runs rank companies.
            "AGENT_WAREHOUSE_SIGNALS_PROVIDERS": "file,synthetic",
            # A local Airflow replays no history: scheduled runs start today; the demo's day
            # comes in as backfills, which ignore the start date.
            "AGENT_WAREHOUSE_START_DATE": today.isoformat(),
            "AGENT_WAREHOUSE_CATCHUP": "false",
            "PYTHONWARNINGS": QUIET_WARNINGS,
        }
        for key, value in defaults.items():
            env.setdefault(key, value)
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{self.port}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.state / "passwords.json"),
        })
        return env

    def _pids(self) -> dict[str, dict[str, Any]]:
        path = self.state / "pids.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def running(self) -> dict[str, int]:
        """The services ``up`` started that still run (pid and start time must both match,
        so a reused pid is never taken for ours)."""
        alive = {}
        for name, entry in self._pids().items():
            try:
                proc = psutil.Process(entry["pid"])
                if abs(proc.create_time() - entry["created"]) < 1 and proc.status() != psutil.STATUS_ZOMBIE:
                    alive[name] = entry["pid"]
            except psutil.Error:
                pass
        return alive

    # ------------------------------------------------------------------ start and stop
    def start(self, names: Iterable[str] = SERVICES) -> dict[str, int]:
        """Start each of ``names`` not running yet; returns name -> pid of all of them."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.password()
        env = self.env()
        pids = self._pids()
        alive = self.running()
        (self.state / "port").write_text(str(self.port))
        if "scheduler" not in alive:
            # The DAGs as these services parse them (their start date): a DAG left unpaused by an
            # earlier `up` and serialized since with another start date (`make demo` does) would
            # otherwise have its next run in January when the scheduler starts.
            done = subprocess.run([AIRFLOW, "dags", "reserialize"], env=env, capture_output=True, text=True,
                                  cwd=PROJECT_ROOT, timeout=300)
            if done.returncode:
                raise RuntimeError(f"airflow dags reserialize failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        for name in names:
            if name in alive:
                continue
            with open(self.logs / f"{name}.log", "ab") as log:
                proc = subprocess.Popen([AIRFLOW, name], env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True, cwd=PROJECT_ROOT)
            pids[name] = {"pid": proc.pid, "created": psutil.Process(proc.pid).create_time()}
            _write_private(self.state / "pids.json", json.dumps(pids))
        return {name: entry["pid"] for name, entry in pids.items()}

    def stop(self, timeout: float = 30) -> list[str]:
        """Stop the services ``start`` started (each with its process group); returns their names."""
        alive = self.running()
        for pid in alive.values():
            _signal_group(pid, signal.SIGTERM)
        end = time.monotonic() + timeout
        for pid in alive.values():
            try:
                psutil.Process(pid).wait(timeout=max(0.1, end - time.monotonic()))
            except psutil.TimeoutExpired:
                _signal_group(pid, signal.SIGKILL)
            except psutil.Error:
                pass
            # Workers the service forked live in its process group: none may outlive it.
            _signal_group(pid, signal.SIGKILL)
        (self.state / "pids.json").unlink(missing_ok=True)
        return list(alive)

    # ------------------------------------------------------------------ the REST API
    def client(self) -> httpx.Client:
        password, _ = self.password()
        client = httpx.Client(base_url=self.local_url, timeout=30)
        answer = client.post("/auth/token", json={"username": USER, "password": password})
        answer.raise_for_status()
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        return client

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.local_url}/api/v2/monitor/health", timeout=5).json()

    def wait_healthy(self, timeout: float = 180) -> None:
        """Until every component reports healthy; a service that exits fails at once."""

        def check() -> bool:
            dead = set(SERVICES) - set(self.running())
            if dead:
                raise RuntimeError(f"{', '.join(sorted(dead))} exited; see {self.logs}\n" + self.tails(dead))
            components = self.health()
            return all(isinstance(v, dict) and v.get("status") == "healthy" for v in components.values()) \
                and {"metadatabase", "scheduler", "triggerer", "dag_processor"} <= set(components)

        wait(check, timeout, "the services to report healthy")

    def wait_dags(self, client: httpx.Client, dag_ids: Iterable[str], timeout: float = 180) -> None:
        """Until the dag-processor has parsed each DAG with these services' start date: a DAG
        serialized earlier (``make airflow-db``, with the default start date) still has its
        next run in January, and unpausing it then would start runs of days nobody asked for."""
        start = datetime.fromisoformat(self.env()["AGENT_WAREHOUSE_START_DATE"])

        def parsed(dag_id: str) -> bool:
            answer = client.get(f"/api/v2/dags/{dag_id}")
            if answer.status_code != 200:
                return False
            next_run = answer.json().get("next_dagrun_data_interval_start")
            return next_run is None or datetime.fromisoformat(next_run.replace("Z", "+00:00")) >= start

        wait(lambda: all(parsed(d) for d in dag_ids), timeout, "the DAGs to be parsed")

    def tails(self, names: Iterable[str], lines: int = 30) -> str:
        out = []
        for name in names:
            path = self.logs / f"{name}.log"
            if path.exists():
                out.append(f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)


def free_port() -> int:
    """A TCP port free right now on this host (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_metadata(env: dict[str, str]) -> None:
    """Airflow's metadata database migrated, with the pool the warehouse tasks use (the
    scheduler leaves tasks of a missing pool unscheduled). Same pool as ``make airflow-db``."""
    pool = env.get("AGENT_WAREHOUSE_POOL", "warehouse_writers")
    slots = env.get("AGENT_WAREHOUSE_POOL_SLOTS", "8")
    for cmd in (["db", "migrate"], ["pools", "set", pool, slots, "Tasks writing to the warehouse"]):
        done = subprocess.run([AIRFLOW, *cmd], env=env, capture_output=True, text=True, timeout=300,
                              cwd=PROJECT_ROOT)
        if done.returncode:
            raise RuntimeError(f"airflow {' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pid, sig)  # start_new_session: the service leads its own group


def wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, OSError, ValueError) as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


# ---------------------------------------------------------------------- the demo's day
def demo_day_loaded() -> bool:
    """Whether ``make demo`` loaded its day into the warehouse."""
    from agent_warehouse.db import connect, run_script
    from tools.demo import DAY

    try:
        conn = connect()
    except Exception:  # noqa: BLE001 - no warehouse: nothing to show
        return False
    try:
        return bool(run_script(conn, TOOLS_SQL / "demo/day_loaded.sql", {"day": DAY.date()})[0][0])
    except Exception:  # noqa: BLE001 - schema not migrated yet
        return False
    finally:
        conn.close()


def backfill_demo_day(client: httpx.Client) -> list[str]:
    """The demo's day through the scheduler, once: backfills of its 24 hours, its daily
    rollup and its signal run. The demo's in-process ``dag.test()`` runs of those DAGs give
    way to them (same periods, no task logs). Returns what it started."""
    from tools.demo import DAY

    started = []
    for dag_id, span in DEMO_BACKFILLS:
        runs = client.get(f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100}).json()["dag_runs"]
        for run in runs:
            if run.get("triggered_by") == "test":
                client.delete(f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}")
        existing = client.get("/api/v2/backfills", params={"dag_id": dag_id}).json().get("backfills", [])
        if any(b["from_date"].startswith(DAY.date().isoformat()) for b in existing):
            continue
        answer = client.post("/api/v2/backfills", json={
            "dag_id": dag_id, "from_date": DAY.isoformat(), "to_date": (DAY + span).isoformat(),
            "max_active_runs": 4, "reprocess_behavior": "completed"})
        if answer.status_code < 300:
            started.append(f"{dag_id} {DAY:%Y-%m-%d}")
        else:
            print(f"backfill of {dag_id} not started: {answer.status_code} {answer.text[:200]}", file=sys.stderr)
    return started


# ---------------------------------------------------------------------- commands
def up(svc: Services, demo: bool = True) -> int:
    already = svc.running()
    if set(already) == set(SERVICES):
        print(f"Airflow already runs ({', '.join(f'{n} pid {p}' for n, p in already.items())}).")
        _print_access(svc)
        return 0
    if already:  # a partial set (one crashed): start the missing ones beside the others
        print(f"running: {', '.join(already)}; starting the rest")
    try:
        pids = svc.start()
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"started {', '.join(f'{n} (pid {p})' for n, p in pids.items())}; waiting until healthy ...")
    try:
        svc.wait_healthy()
        client = svc.client()
        svc.wait_dags(client, UNPAUSED)
        for dag_id in UNPAUSED:
            client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        backfills = backfill_demo_day(client) if demo and demo_day_loaded() else []
    except (TimeoutError, RuntimeError, httpx.HTTPError) as exc:
        print(f"Airflow did not come up: {exc}\n{svc.tails(SERVICES, 15)}", file=sys.stderr)
        svc.stop()
        return 1
    print(f"unpaused {', '.join(UNPAUSED)}")
    if backfills:
        print(f"the demo's day runs through the scheduler as backfills: {'; '.join(backfills)}")
    _print_access(svc)
    return 0


def _print_access(svc: Services) -> None:
    password, generated = svc.password()
    source = "generated; set AIRFLOW_ADMIN_PASSWORD to choose it" if generated else "AIRFLOW_ADMIN_PASSWORD"
    token = svc.env()["INTERNAL_JOB_TOKEN"]
    print(f"\n  Airflow UI   {svc.url}\n  login        {USER} / {password}   ({source})\n"
          f"  reports      {svc.url}/reports/ (also Daily reports in the UI's navigation)\n"
          f"  internal API {svc.url}/internal/  X-Internal-Token: {token}\n"
          f"  logs         {svc.logs}/ (services), {svc.home}/logs/ (tasks)\n"
          f"  stop         make down\n")


def down(svc: Services) -> int:
    stopped = svc.stop()
    print(f"stopped {', '.join(stopped)}" if stopped else "no Airflow service of `make up` was running")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status", "prepare"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--no-demo", action="store_true", help="do not backfill the demo's day")
    args = parser.parse_args(argv)
    if args.command == "prepare":  # `make airflow-db`
        prepare_metadata(dict(os.environ))
        return 0
    home = Path(os.environ.get("AIRFLOW_HOME", PROJECT_ROOT / ".airflow"))
    svc = Services(home, _port_of_running(home) or args.port)
    if args.command == "up":
        return up(svc, demo=not args.no_demo)
    if args.command == "down":
        return down(svc)
    running = svc.running()
    print(json.dumps({"url": svc.url, "running": running}))
    return 0 if running else 3


def _port_of_running(home: Path) -> int | None:
    """The port an earlier ``up`` chose, while its services run (``make down`` needs no PORT)."""
    path = home / "services" / "port"
    return int(path.read_text()) if path.exists() and Services(home, 0).running() else None


if __name__ == "__main__":
    sys.exit(main())
