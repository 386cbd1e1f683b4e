"""docker-compose.yaml, run: every Airflow service's command and environment read from the file
itself and started as a local process (no Docker engine here, and no image can be pulled).

What Docker would provide is mapped, and nothing else is added:
- the image is this virtualenv (the same requirements.txt the Dockerfile installs) plus the
  Dockerfile's ``ENV`` lines and its ``COPY``s into /opt/airflow (as links into the checkout);
- compose's interpolation from a ``.env`` the test writes, the two Docker secrets as files under
  the services that list them (``/run/secrets/<name>``), the bind mounts as folders of a
  temporary project directory, created by root as Docker creates them;
- compose hostnames: ``postgres`` and ``warehouse`` are this machine's PostgreSQL 15 on
  127.0.0.1:5432 (trust auth) with a metadata and a warehouse database the test creates and
  drops, ``redis`` its Redis on 127.0.0.1:6379, ``airflow-apiserver:8080`` the api-server's
  free port; each container gets its own hostname (for the two workers, through
  ``hostname_callable``) and its own log-server ports;
- the ``user:`` of each service: when the test runs as root, init runs as root and every other
  service as AIRFLOW_UID, as the containers would.

Then: init; api-server, scheduler, dag-processor, triggerer and the workers (``deploy.replicas``);
a backfill of three hours of hourly_rollup and one day of daily_rollup, and a signal run through
the internal API, all exact, with tasks on both workers; and the job login is the only login
that wrote to the warehouse or connected to it while the DAGs ran.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from support import HOUR, ROOT
from support.checks import assert_exact, assert_matches, raw_rows
from support.oracle import daily_metrics
from support.services import ComposeService, compose_services, free_port, read_env_file
from tools.synthetic import insert_runs, make_runs

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
DAY = date(2026, 1, 5)
H0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
HOURS = 3
BUDGET_SECONDS = 420  # 276 s measured with the 2 cores at load 14
TEST_APP = "compose-test"  # application_name of the test's own warehouse connections
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker")


def local_postgres() -> str | None:
    """Why the machine's PostgreSQL cannot be used, or None."""
    import psycopg

    try:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres",
                             connect_timeout=2) as conn:
            version = conn.info.server_version
    except psycopg.Error as exc:
        return f"no PostgreSQL with trust auth for postgres at {PG_HOST}:{PG_PORT} ({exc})"
    return None if version >= 150000 else f"PostgreSQL at {PG_HOST}:{PG_PORT} is {version}, 15+ needed"


def local_redis() -> str | None:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return None
    except OSError:
        pass
    return f"no Redis answering PING at {REDIS_HOST}:{REDIS_PORT} for the Celery broker"


pytestmark = [pytest.mark.services,
              pytest.mark.skipif(bool(local_postgres()), reason=local_postgres() or ""),
              pytest.mark.skipif(bool(local_redis()), reason=local_redis() or "")]


def pg(dbname: str = "postgres", autocommit: bool = True):
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=dbname,
                           autocommit=autocommit, application_name=TEST_APP)


class Image:
    """What the Dockerfile builds, on this machine: /opt/airflow is a folder whose entries link to
    what the Dockerfile COPYs there; its ENV lines are the image's environment."""

    def __init__(self, root: Path, uid: int) -> None:
        self.root = root
        self.env: dict[str, str] = {"AIRFLOW_HOME": "/opt/airflow", "HOME": "/opt/airflow"}
        text = (ROOT / "Dockerfile").read_text()
        assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11$", text, re.M)
        root.mkdir(parents=True)
        for src, dst in re.findall(r"^COPY (?:--\S+ )*(\S+) (\S+)$", text, re.M):
            if dst.startswith("/opt/airflow/"):
                target = root / dst.removeprefix("/opt/airflow/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(ROOT / src)
        for key, value in re.findall(r"^ENV (\w+)=(\S+)$", text, re.M):
            self.env[key] = value
        self.python = self.interpreter(root / "python", uid)
        for path in [root, *(p for p in root.rglob("*") if not p.is_symlink())]:
            os.chown(path, uid, 0)  # the image's /opt/airflow belongs to airflow:0

    @staticmethod
    def interpreter(venv: Path, uid: int) -> str:
        """A Python that AIRFLOW_UID can run, seeing this virtualenv's packages: this venv's own
        interpreter may live where only its owner can read (pyenv under /root)."""
        if uid == os.getuid() or not Path("/usr/bin/python3.11").exists():
            return sys.executable
        subprocess.run(["/usr/bin/python3.11", "-m", "venv", "--without-pip", str(venv)], check=True)
        site = Path(sys.prefix) / "lib" / "python3.11" / "site-packages"
        packages = venv / "lib" / "python3.11" / "site-packages"
        (packages / "image.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
        if sys.version_info < (3, 11, 3) or not Path(site, "async_timeout").exists():
            # redis needs async_timeout below Python 3.11.3 (Debian's is 3.11.2, the image's newer).
            (packages / "async_timeout.py").write_text("from asyncio import timeout  # noqa: F401\n")
        return str(venv / "bin" / "python")


class LocalCompose:
    """The services of docker-compose.yaml as local processes (see the module's docstring)."""

    def __init__(self, base: Path, tag: str) -> None:
        self.tag = tag
        self.root_user = os.geteuid() == 0
        self.uid = 50000 if self.root_user else os.getuid()
        self.project = base / "project"
        self.project.mkdir(parents=True)
        self.meta_db, self.wh_db = f"compose_meta_{tag}", f"compose_wh_{tag}"
        self.owner, self.job = f"compose_owner_{tag}", f"compose_job_{tag}"
        self.port = free_port()
        self.redis_db = 8 + int(tag) % 8
        self.secret_values = {"warehouse_owner_password": secrets.token_urlsafe(32),
                              "airflow_admin_password": secrets.token_urlsafe(32)}
        self.dotenv = {
            "INTERNAL_JOB_TOKEN": secrets.token_urlsafe(32),
            "AIRFLOW_FERNET_KEY": __import__("cryptography.fernet").fernet.Fernet.generate_key().decode(),
            "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW_API_SECRET_KEY": secrets.token_urlsafe(32),
            "WAREHOUSE_JOB_PASSWORD": secrets.token_urlsafe(32),
            "WAREHOUSE_JOB_USER": self.job,
            "WAREHOUSE_OWNER_USER": self.owner,
            "AIRFLOW_UID": str(self.uid),
            # Backfills only: with catchup on, an earlier start date would schedule every hour since.
            "AGENT_WAREHOUSE_START_DATE": "2099-01-01T00:00:00+00:00",
            "AGENT_WAREHOUSE_SIGNALS_PROVIDERS": "synthetic",
            "AIRFLOW_WORKER_CONCURRENCY": "2",
        }
        (self.project / ".env").write_text("".join(f"{k}={v}\n" for k, v in self.dotenv.items()))
        (self.project / "secrets").mkdir(mode=0o700)
        for name, value in self.secret_values.items():
            path = self.project / "secrets" / name
            path.write_text(value + "\n")
            path.chmod(0o600)  # root's, as on a host: init must read it before dropping to AIRFLOW_UID
        self.image = Image(base / "image", self.uid)
        self.services = compose_services(read_env_file(self.project / ".env"))
        self.logs = base / "logs"
        self.logs.mkdir()
        self.procs: dict[str, subprocess.Popen] = {}

    # ---------------------------------------------------------------- mapping compose onto this host
    def host_path(self, svc: ComposeService, path: str) -> str:
        for volume in svc.volumes:
            src, dst = volume.split(":")[:2]
            if path == dst or path.startswith(dst + "/"):
                return str(self.project / src.removeprefix("./")) + path[len(dst):]
        if path.startswith("/run/secrets/"):
            name = path.removeprefix("/run/secrets/")
            assert name in svc.secrets, f"{svc.name} reads {path} but does not list the secret {name}"
            return str(self.project / "secrets" / name)
        if path == "/opt/airflow" or path.startswith("/opt/airflow/"):
            return str(self.image.root) + path.removeprefix("/opt/airflow")
        return path

    def map_url(self, value: str) -> str:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port
        auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        if host == "postgres":  # Airflow's metadata database: the compose one is airflow:airflow
            return urlunsplit((parts.scheme, f"postgres@{PG_HOST}:{PG_PORT}", f"/{self.meta_db}", "", ""))
        if host == "warehouse":
            return urlunsplit((parts.scheme, f"{auth}{PG_HOST}:{PG_PORT}", f"/{self.wh_db}", parts.query, ""))
        if host == "redis":
            return urlunsplit((parts.scheme, f"{REDIS_HOST}:{REDIS_PORT}", f"/{self.redis_db}", "", ""))
        if (host, port) in (("airflow-apiserver", 8080), ("localhost", 8080)):
            return urlunsplit((parts.scheme, f"127.0.0.1:{self.port}", parts.path, parts.query, ""))
        return value

    def environment(self, svc: ComposeService, container: str) -> dict[str, str]:
        """The container's environment: the image's, then the service's, mapped to this host."""
        env = {"PATH": f"{Path(self.image.python).parent}:/usr/bin:/bin", "LANG": "C.UTF-8"}
        env.update(self.image.env)
        env.update(svc.environment)
        for key, value in env.items():
            if "://" in value:
                env[key] = self.map_url(value)
            elif value.startswith("/"):
                env[key] = self.host_path(svc, value)
        env.update({
            # What differs between containers on one host: the api-server's published port, each
            # container's hostname and log-server ports.
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "getpass.getuser",  # reads LOGNAME: the container's name
            "LOGNAME": container,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Not Docker's: quicker heartbeats and DAG scans so the test fits its budget.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        })
        return env

    def argv(self, svc: ComposeService) -> list[str]:
        words = [self.host_path(svc, w) if w.startswith("/") else w for w in svc.argv]
        if words[0] == "airflow":
            return [self.image.python, "-m", "airflow", *words[1:]]
        assert words[0] == "python", words
        return [self.image.python, *words[1:]]

    def user(self, svc: ComposeService) -> dict:
        if not self.root_user or not svc.user:
            return {}
        uid, gid = (int(x) for x in svc.user.split(":"))
        return {"user": uid, "group": gid, "extra_groups": [gid]}

    # ---------------------------------------------------------------- databases
    def create_databases(self) -> None:
        with pg() as conn:
            for db in (self.meta_db, self.wh_db):
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{db}"')
            conn.execute(f'DROP ROLE IF EXISTS "{self.job}"')
            conn.execute(f'DROP ROLE IF EXISTS "{self.owner}"')
            # The compose warehouse's owner is its POSTGRES_USER, a superuser.
            conn.execute(f'CREATE ROLE "{self.owner}" LOGIN SUPERUSER')

    def drop_databases(self) -> None:
        with pg() as conn:
            for db in (self.meta_db, self.wh_db):
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            for role in (self.job, self.owner):
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')

    # ---------------------------------------------------------------- processes
    def run_once(self, name: str, timeout: float = 240) -> subprocess.CompletedProcess:
        svc = self.services[name]
        return subprocess.run(self.argv(svc), env=self.environment(svc, name), capture_output=True, text=True,
                              timeout=timeout, cwd=self.image.root, **self.user(svc))

    def start(self, name: str) -> list[str]:
        svc = self.services[name]
        started = []
        for i in range(1, svc.replicas + 1):
            container = f"{name}-{i}"
            log = open(self.logs / f"{container}.log", "wb")  # noqa: SIM115 - closed with the process
            self.procs[container] = subprocess.Popen(
                self.argv(svc), env=self.environment(svc, container), stdout=log, stderr=subprocess.STDOUT,
                cwd=self.image.root, start_new_session=True, **self.user(svc))
            started.append(container)
        return started

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def tails(self, lines: int = 30) -> str:
        return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:])
                         for p in sorted(self.logs.glob("*.log")))


@pytest.fixture()
def compose():
    base = Path(tempfile.mkdtemp(prefix="aw-compose-"))
    base.chmod(0o755)  # the services run as AIRFLOW_UID
    stack = LocalCompose(base, str(os.getpid()))
    stack.create_databases()
    try:
        yield stack
    finally:
        stack.stop()
        stack.drop_databases()
        shutil.rmtree(base, ignore_errors=True)


def install_write_audit(conn) -> None:
    """A statement trigger on every table of analytics, ops and signals recording the login
    (session_user) of each write: which login the tasks really used, not which one they were given."""
    conn.execute("""
        CREATE SCHEMA compose_test;
        CREATE TABLE compose_test.writers (login text, tbl text);
        CREATE FUNCTION compose_test.record() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog AS $$
        BEGIN
            INSERT INTO compose_test.writers VALUES (session_user, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
            RETURN NULL;
        END $$;
        DO $$
        DECLARE t record;
        BEGIN
            FOR t IN SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname IN ('analytics', 'ops', 'signals') AND c.relkind IN ('r', 'p')
                       AND NOT c.relispartition
            LOOP
                EXECUTE format('CREATE TRIGGER compose_writer AFTER INSERT OR UPDATE OR DELETE ON %I.%I '
                               'FOR EACH STATEMENT EXECUTE FUNCTION compose_test.record()', t.nspname, t.relname);
            END LOOP;
        END $$;
    """)


class LoginSampler(threading.Thread):
    """Every 0.2 s, the logins of the warehouse's sessions other than the test's own."""

    def __init__(self, dbname: str) -> None:
        super().__init__(daemon=True)
        self.dbname, self.seen, self.samples = dbname, set(), 0
        self.halt = threading.Event()

    def run(self) -> None:
        with pg() as conn:
            while not self.halt.is_set():
                rows = conn.execute("SELECT usename FROM pg_stat_activity WHERE datname = %s "
                                    "AND application_name <> %s AND usename IS NOT NULL",
                                    (self.dbname, TEST_APP)).fetchall()
                self.seen |= {r[0] for r in rows}
                self.samples += 1
                self.halt.wait(0.2)


def test_compose_services_run_the_deployment_end_to_end(compose: LocalCompose):
    began = time.monotonic()
    phases: dict[str, float] = {}

    # ---------------------------------------------------------------- airflow-init
    (compose.project / "logs").mkdir()  # bind mounts Docker creates: root's, 0755
    (compose.project / "reports").mkdir()
    done = compose.run_once("airflow-init")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    phases["init"] = round(time.monotonic() - began, 1)
    if compose.root_user:
        for folder in ("logs", "reports"):
            st = (compose.project / folder).stat()
            assert (st.st_uid, st.st_gid) == (compose.uid, 0) and st.st_mode & stat.S_IWGRP, folder
    again = compose.run_once("airflow-init")  # safe to rerun: every step is create-or-update
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 migration(s) applied" in again.stdout and "updated" in again.stdout

    wh = pg(compose.wh_db, autocommit=False)
    workspaces = [str(uuid.uuid4()) for _ in range(5)]
    rng = random.Random(18)
    insert_runs(wh, make_runs(rng, datetime(2026, 1, 5, tzinfo=UTC), 600, workspaces, span=timedelta(days=1)))
    insert_runs(wh, make_runs(rng, H0, 300, workspaces, span=HOURS * HOUR))
    from agent_warehouse.signals import ingest, pipeline, score

    score.register_workspace(wh, workspaces[0])
    provider = ingest.REGISTRY["synthetic"]()
    for days_before in range(5, 0, -1):  # a baseline for the velocities
        ingest.ingest(wh, *pipeline.day_bounds(DAY - timedelta(days=days_before)), providers=[provider])
    wh.commit()
    raw_before = wh.execute("SELECT count(*) FROM signals.raw_signals").fetchone()[0]
    wh.commit()
    with pg(compose.wh_db) as admin:
        install_write_audit(admin)

    # ---------------------------------------------------------------- the services
    for name in AIRFLOW_SERVICES:
        compose.start(name)
    workers = [c for c in compose.procs if c.startswith("airflow-worker-")]
    assert len(workers) == 2
    # The owner's and the admin's passwords reached none of these processes.
    for container, proc in compose.procs.items():
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().decode(errors="replace")
        for value in compose.secret_values.values():
            assert value not in environ, container
        assert "WAREHOUSE_OWNER" not in environ and "/run/secrets" not in environ, container
    sampler = LoginSampler(compose.wh_db)
    sampler.start()
    base = f"http://127.0.0.1:{compose.port}"
    client = httpx.Client(base_url=base, timeout=30)
    deadline = began + BUDGET_SECONDS

    def wait(what: str, check, interval: float = 1.0):
        while time.monotonic() < deadline:
            for container, proc in compose.procs.items():
                assert proc.poll() is None, f"{container} exited {proc.returncode}\n{compose.tails()}"
            try:
                got = check()
            except httpx.HTTPError:
                got = None
            if got:
                return got
            time.sleep(interval)
        pytest.fail(f"timed out waiting for {what}\n{compose.tails()}")

    try:
        wait("the api-server", lambda: client.get("/api/v2/monitor/health").status_code == 200)
        # FAB's login with the admin init created from the secret.
        token = client.post("/auth/token", json={"username": "admin",
                                                 "password": compose.secret_values["airflow_admin_password"]})
        assert token.status_code in (200, 201), token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        assert httpx.get(f"{base}/api/v2/dags", timeout=30).status_code == 401
        phases["api-server healthy"] = round(time.monotonic() - began, 1)
        for dag_id in ("hourly_rollup", "daily_rollup", "daily_signal_aggregation"):
            wait(f"{dag_id} to be serialized", lambda d=dag_id: client.get(f"/api/v2/dags/{d}").status_code == 200)
            client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        phases["DAGs serialized"] = round(time.monotonic() - began, 1)

        for dag_id, first, last in (("hourly_rollup", H0, H0 + (HOURS - 1) * HOUR), ("daily_rollup", DAY, DAY)):
            answer = client.post("/api/v2/backfills", json={
                "dag_id": dag_id, "from_date": first.isoformat(), "to_date": last.isoformat(), "max_active_runs": 4})
            assert answer.status_code == 200, answer.text
        auth = {"X-Internal-Token": compose.dotenv["INTERNAL_JOB_TOKEN"]}
        signal_run = client.post("/internal/run_daily_aggregation", headers=auth,
                                 params={"workspace_id": workspaces[0], "day": DAY.isoformat()})
        assert signal_run.status_code == 202, signal_run.text
        job_run_id = signal_run.json()["job_run_id"]

        def runs(dag_id: str) -> list[dict]:
            return client.get(f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]

        def all_done() -> bool:
            states = {d: [r["state"] for r in runs(d)]
                      for d in ("hourly_rollup", "daily_rollup", "daily_signal_aggregation")}
            assert "failed" not in sum(states.values(), []), (states, compose.tails())
            return ([len(states[d]) for d in states] == [HOURS, 1, 1]
                    and set(sum(states.values(), [])) == {"success"})

        wait("every run to succeed", all_done, interval=2)
        phases["runs succeeded"] = round(time.monotonic() - began, 1)
        result = client.get(f"/internal/job_runs/{job_run_id}", headers=auth).json()
        tis = [ti for d in ("hourly_rollup", "daily_rollup", "daily_signal_aggregation") for r in runs(d)
               for ti in client.get(f"/api/v2/dags/{d}/dagRuns/{r['dag_run_id']}/taskInstances")
               .json()["task_instances"]]
    finally:
        sampler.halt.set()
        sampler.join()
    wall = round(time.monotonic() - began, 1)
    print(f"\ncompose run: {phases}, total {wall} s; {len(tis)} task instances; "
          f"{sampler.samples} session samples")

    # Exact rows, against the independent computation.
    for h in range(HOURS):
        assert_exact(wh, H0 + h * HOUR)
    assert_matches(wh, daily_metrics(raw_rows(wh), DAY), "execution_metrics_daily", "day", DAY,
                   "workspace_activity_daily")
    assert result["status"] == "success" and result["error"] is None, result
    counts = wh.execute(
        "SELECT (SELECT count(*) FROM signals.raw_signals), "
        "       (SELECT count(*) FROM signals.company_scores_daily WHERE workspace_id = %(ws)s AND day = %(day)s), "
        "       (SELECT count(*) FROM signals.emerging_companies WHERE workspace_id = %(ws)s AND day = %(day)s)",
        {"ws": workspaces[0], "day": DAY}).fetchone()
    wh.commit()
    # The day's synthetic signals, computed apart: all of them are in, once. The hourly runs
    # ingest their own hours too, before or after the daily run (they race), so the daily
    # run inserted at least the day's other hours and at most the whole day.
    day_start, day_end = pipeline.day_bounds(DAY)
    whole_day = len(list(provider.fetch(day_start, day_end)))
    other_hours = (len(list(provider.fetch(day_start, H0)))
                   + len(list(provider.fetch(H0 + HOURS * HOUR, day_end))))
    assert counts[0] - raw_before == whole_day, (counts, raw_before, whole_day)
    assert other_hours <= result["inserted"] <= whole_day, (result, other_hours, whole_day)
    assert (result["companies_scored"], result["ranked_count"]) == (counts[1], counts[2]) and counts[1] > 0, \
        (result, counts)
    audit = wh.execute("SELECT dag_id, status, count(*) FROM ops.job_runs GROUP BY 1, 2 ORDER BY 1").fetchall()
    wh.commit()
    assert {(d, s) for d, s, _ in audit} == {("daily_rollup", "success"), ("hourly_rollup", "success"),
                                             ("daily_signal_aggregation", "success")}, audit

    # Tasks ran on both workers, through Celery's default queue.
    executed = [ti for ti in tis if ti["state"] == "success"]
    assert {ti["hostname"] for ti in executed} == set(workers), sorted((ti["task_id"], ti["hostname"]) for ti in tis)
    assert {ti["queue"] for ti in executed} == {"default"}

    # The job login, and only it, wrote to the warehouse and held sessions there.
    writers = wh.execute("SELECT login, count(*) FROM compose_test.writers GROUP BY 1").fetchall()
    wh.commit()
    assert [w for w, _ in writers] == [compose.job], writers
    assert sampler.seen == {compose.job}, sampler.seen
    wh.close()
    assert wall < BUDGET_SECONDS
