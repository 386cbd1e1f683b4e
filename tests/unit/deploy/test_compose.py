"""docker-compose.yaml, the Dockerfile and the init entry point, read statically: compose runs no
logic of its own, the owner's secret reaches airflow-init only, the image is built as Airflow
documents, and init refuses unsafe inputs before it writes anything. The run itself:
tests/integration/deploy/test_compose_run.py."""

from __future__ import annotations

import importlib
import re
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_warehouse import deploy
from support import ROOT
from support.services import ComposeError, compose_raw, compose_services, interpolate

SERVICES = {"postgres", "warehouse", "redis", "airflow-apiserver", "airflow-scheduler",
            "airflow-dag-processor", "airflow-worker", "airflow-triggerer", "airflow-init"}
AIRFLOW = SERVICES - {"postgres", "warehouse", "redis"}
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker"}
OWNER_SECRET = "warehouse_owner_password"
ADMIN_SECRET = "airflow_admin_password"
DOTENV = {"AIRFLOW_FERNET_KEY": "k", "AIRFLOW_JWT_SECRET": "j", "AIRFLOW_API_SECRET_KEY": "a",
          "WAREHOUSE_JOB_PASSWORD": "job-password-value", "INTERNAL_JOB_TOKEN": "t"}


def services() -> dict:
    return compose_services(DOTENV)


def test_services_and_commands_are_airflow_commands_or_package_entry_points():
    raw = compose_raw()["services"]
    assert set(raw) == SERVICES
    for name in AIRFLOW:
        svc = raw[name]
        assert "entrypoint" not in svc, name  # the image's entrypoint, which runs `airflow <command>`
        command = svc["command"]
        if isinstance(command, str):
            assert command in AIRFLOW_COMMANDS, name
        else:  # python -m agent_warehouse.<module> <subcommand> [--options]: no -c, no script, no shell
            assert command[:2] == ["python", "-m"] and command[2].startswith("agent_warehouse."), command
            assert not any(w in ("-c", "-") or "\n" in w or ";" in w or "&&" in w for w in command), command
            module = importlib.import_module(command[2])
            assert callable(module.main)
            with pytest.raises(SystemExit) as help_exit:
                module.main([*command[3:4], "--help"])  # the subcommand and options compose passes exist
            assert help_exit.value.code == 0
    assert raw["airflow-init"]["command"][2:4] == ["agent_warehouse.deploy", "init"]
    assert services()["airflow-worker"].replicas == 2


def test_no_shell_or_inline_code_anywhere_a_service_runs():
    text = "\n".join(ln for ln in (ROOT / "docker-compose.yaml").read_text().splitlines()
                     if not ln.lstrip().startswith("#"))
    for forbidden in ("/bin/bash", "bash -c", "python -", "<<'", "<<EOF", "set -e", "import ", "psycopg2"):
        assert forbidden not in text, forbidden


def test_owner_and_admin_secrets_reach_airflow_init_only():
    raw = compose_raw()
    assert set(raw["secrets"]) == {OWNER_SECRET, ADMIN_SECRET}
    assert all(s["file"].startswith("./secrets/") for s in raw["secrets"].values())
    for name, svc in raw["services"].items():
        assert "env_file" not in svc, name  # .env only feeds interpolation; nothing is handed over wholesale
        listed = set(svc.get("secrets", []))
        if name == "airflow-init":
            assert listed == {OWNER_SECRET, ADMIN_SECRET}
        elif name == "warehouse":  # the server sets its owner's password from it
            assert listed == {OWNER_SECRET}
        else:
            assert not listed, name
    values = {"WAREHOUSE_OWNER_PASSWORD": "owner-secret-value", **DOTENV}
    for name, svc in compose_services(values).items():
        if name in ("airflow-init", "warehouse"):
            continue
        for key, value in svc.environment.items():
            assert "owner-secret-value" not in value and "OWNER" not in key and "/run/secrets" not in value, (name, key)
    init = services()["airflow-init"].environment
    assert init["WAREHOUSE_OWNER_PASSWORD_FILE"] == f"/run/secrets/{OWNER_SECRET}"
    assert init["AIRFLOW_ADMIN_PASSWORD_FILE"] == f"/run/secrets/{ADMIN_SECRET}"


def test_tasks_reach_the_warehouse_as_the_job_login_and_init_migrates_where_it_points():
    env = services()["airflow-scheduler"].environment
    assert env["AIRFLOW_CONN_WAREHOUSE"] == "postgresql://airflow_job:job-password-value@warehouse:5432/warehouse"
    external = "postgresql://etl:pw-of-the-etl-login@db.example.net:6432/dwh?sslmode=require"
    for svc in compose_services({**DOTENV, "AIRFLOW_CONN_WAREHOUSE": external}).values():
        if svc.name in AIRFLOW:
            assert svc.environment["AIRFLOW_CONN_WAREHOUSE"] == external
    inputs = deploy.Inputs(external, "etl", "pw-of-the-etl-login", "dwh_owner", "owner pass", "admin", None, 4, 50000)
    from psycopg.conninfo import conninfo_to_dict

    assert conninfo_to_dict(deploy.owner_dsn(inputs)) == {
        "host": "db.example.net", "port": "6432", "dbname": "dwh", "sslmode": "require",
        "user": "dwh_owner", "password": "owner pass"}


def test_no_pythonpath_and_no_source_mounts():
    for name in AIRFLOW:
        svc = services()[name]
        assert "PYTHONPATH" not in svc.environment, name
        for volume in svc.volumes:
            src = volume.split(":")[0]
            assert src in ("./logs", "./reports", "./signals_drop"), volume
    docker = [ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if not ln.startswith("#")]
    assert not any("PYTHONPATH" in ln for ln in docker)


def test_image_is_built_from_the_dockerfile_as_airflow_documents():
    raw = compose_raw()["services"]
    for name in AIRFLOW:
        assert raw[name]["build"] == ".", name
        assert not raw[name]["image"].startswith("apache/airflow"), name
    docker = (ROOT / "Dockerfile").read_text()
    lines = [ln for ln in docker.splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "FROM apache/airflow:3.3.2-python3.11"
    assert lines[1] == "USER airflow"
    assert 'pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/airflow/requirements.txt' in docker
    assert re.search(r"^RUN pip install .*/opt/airflow/project$", docker, re.M)  # the package itself
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") if "*" in ignore else 0] == "*"  # everything out, then what is copied
    assert not any(line.startswith("!") and (".env" in line or "secrets" in line) for line in ignore)


def test_fab_auth_manager_pinned_and_importable():
    env = services()["airflow-apiserver"].environment
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    module, _, cls = env["AIRFLOW__CORE__AUTH_MANAGER"].rpartition(".")
    assert hasattr(importlib.import_module(module), cls)
    assert "apache-airflow-providers-fab==3.10.2" in (ROOT / "requirements.txt").read_text().splitlines()


def test_ports_are_bound_to_this_host_only():
    for name, svc in compose_raw()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_airflow_services_run_as_the_worker_uid_and_wait_for_init():
    raw = compose_raw()["services"]
    for name in AIRFLOW - {"airflow-init"}:
        assert raw[name]["user"] == "${AIRFLOW_UID:-50000}:0", name
        assert raw[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
    assert raw["airflow-init"]["user"] == "0:0"  # only to give the volumes away; it drops to AIRFLOW_UID
    assert {"/opt/airflow/logs", "/opt/airflow/reports"} <= set(raw["airflow-init"]["command"])


def test_required_secrets_are_required_not_defaulted():
    for missing in DOTENV:
        with pytest.raises(ComposeError, match=missing):
            compose_services({k: v for k, v in DOTENV.items() if k != missing})
    example = (ROOT / ".env.example").read_text()
    assert "change-me" not in example and "WAREHOUSE_OWNER_PASSWORD" not in example.split("#")[0]
    for line in example.splitlines():
        if line and not line.startswith("#") and not line.startswith("AIRFLOW_UID"):
            assert line.endswith("="), line


def test_interpolation_nests_defaults_like_compose():
    assert interpolate("${A:-${B:-x}}/$${C}", {}) == "x/${C}"
    assert interpolate("${A:-d}|${A-d}", {"A": ""}) == "d|"
    with pytest.raises(ComposeError):
        interpolate("${A:?say}", {"A": ""})


# ------------------------------------------------------------------ init's refusals
def good_env(**over: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {"AIRFLOW_CONN_WAREHOUSE": f"postgresql://airflow_job:{secrets.token_urlsafe(24)}@warehouse:5432/warehouse",
           "WAREHOUSE_OWNER_USER": "warehouse", "WAREHOUSE_OWNER_PASSWORD": secrets.token_urlsafe(24),
           "INTERNAL_JOB_TOKEN": secrets.token_urlsafe(24), "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
           "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
           "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
           "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
           "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(24)}
    env.update(over)
    return env


def test_init_reads_secrets_from_files(tmp_path):
    path = tmp_path / "owner"
    path.write_text("  from-the-secret-file-0123456789\n")
    env = good_env(WAREHOUSE_OWNER_PASSWORD_FILE=str(path))
    assert deploy.read_inputs(env).owner_password == "from-the-secret-file-0123456789"
    with pytest.raises(deploy.DeployError, match="cannot be read"):
        deploy.read_inputs(good_env(WAREHOUSE_OWNER_PASSWORD_FILE=str(tmp_path / "missing")))


PLACEHOLDERS = st.sampled_from(deploy.PLACEHOLDER_PARTS)
SECRETS = ("INTERNAL_JOB_TOKEN", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY",
           "WAREHOUSE_OWNER_PASSWORD", "AIRFLOW_ADMIN_PASSWORD")


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(SECRETS), part=PLACEHOLDERS, pad=st.text(st.characters(codec="ascii",
       categories=("L", "N")), max_size=20), upper=st.booleans())
def test_placeholder_secrets_are_refused(name, part, pad, upper):
    value = (pad + part + pad)
    with pytest.raises(deploy.DeployError, match=name):
        deploy.read_inputs(good_env(**{name: value.upper() if upper else value}))


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(SECRETS), value=st.text(st.characters(codec="ascii", categories=("L", "N")),
                                                    max_size=15))
def test_short_or_empty_secrets_are_refused(name, value):
    with pytest.raises(deploy.DeployError, match=name):
        deploy.read_inputs(good_env(**{name: value}))


def test_job_login_must_not_be_the_owner_and_fernet_must_be_a_key():
    with pytest.raises(deploy.DeployError, match="as the owner"):
        deploy.read_inputs(good_env(AIRFLOW_CONN_WAREHOUSE="postgresql://warehouse:x0123456789abcdefgh@h/db"))
    with pytest.raises(deploy.DeployError, match="WAREHOUSE_JOB_PASSWORD"):
        deploy.read_inputs(good_env(AIRFLOW_CONN_WAREHOUSE="postgresql://airflow_job:change-me@h/db"))
    with pytest.raises(deploy.DeployError, match="FERNET"):
        deploy.read_inputs(good_env(AIRFLOW__CORE__FERNET_KEY="not-a-fernet-key-0123456789"))
    inputs = deploy.read_inputs(good_env())
    assert inputs.job_user == "airflow_job" and inputs.uid == 50000 and inputs.admin_password
