"""docker-compose.yaml has the official Airflow 3.3 CeleryExecutor shape and the project's mounts."""

from __future__ import annotations

import yaml

from support import ROOT

SERVICES = {"postgres", "warehouse", "redis", "airflow-apiserver", "airflow-scheduler",
            "airflow-dag-processor", "airflow-worker", "airflow-triggerer", "airflow-init"}


def load() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_services_and_commands():
    compose = load()
    services = compose["services"]
    assert set(services) == SERVICES
    commands = {name: svc.get("command") for name, svc in services.items()}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-worker"] == "celery worker"
    assert commands["airflow-triggerer"] == "triggerer"
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init and "agent_warehouse.db.migrations" in init
    for name in SERVICES:
        assert "healthcheck" in services[name] or name == "airflow-init", name


def test_airflow_services_share_the_celery_environment_and_mounts():
    services = load()["services"]
    for name in SERVICES - {"postgres", "warehouse", "redis"}:
        svc = services[name]
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert "AIRFLOW_CONN_WAREHOUSE" in env and "INTERNAL_JOB_TOKEN" in env
        assert svc["env_file"] == [".env"]
        assert svc["image"].startswith("${AIRFLOW_IMAGE_NAME:-apache/airflow:3.3.")
        mounts = {v.split(":")[1] for v in svc["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/project/include",
                "/opt/airflow/project/agent_warehouse"} <= mounts
        for src in ("dags", "plugins", "include", "agent_warehouse"):
            assert (ROOT / src).is_dir()


def common_env() -> dict:
    return load()["services"]["airflow-scheduler"]["environment"]


def init_script() -> str:
    """airflow-init's shell script as the container runs it (compose turns `$$` into `$`)."""
    return load()["services"]["airflow-init"]["command"][1].replace("$$", "$")


def test_dags_reach_the_warehouse_as_the_job_role_login_not_the_superuser():
    conn = common_env()["AIRFLOW_CONN_WAREHOUSE"]
    assert "postgresql://airflow_job:${WAREHOUSE_JOB_PASSWORD:?" in conn
    assert "warehouse:warehouse@" not in load_text()
    init = init_script()
    assert "GRANT agent_warehouse_job TO airflow_job" in init
    # Only the migrations run as the owner, in airflow-init.
    assert 'AIRFLOW_CONN_WAREHOUSE="$WAREHOUSE_OWNER_URI" python -m agent_warehouse.db.migrations' in init
    for name in SERVICES - {"postgres", "warehouse", "redis", "airflow-init"}:
        assert "WAREHOUSE_OWNER_URI" not in load()["services"][name]["environment"], name


def load_text() -> str:
    return (ROOT / "docker-compose.yaml").read_text()


def test_secrets_are_required_not_defaulted():
    env = common_env()
    assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${AIRFLOW_FERNET_KEY:?")
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:?")
    assert env["INTERNAL_JOB_TOKEN"].startswith("${INTERNAL_JOB_TOKEN:?")
    example = (ROOT / ".env.example").read_text()
    assert "change-me" not in example
    for line in example.splitlines():
        if line and not line.startswith("#") and not line.startswith("AIRFLOW_UID"):
            assert line.endswith("="), line  # every secret left for the user to fill in


def run_checks(**env: str):
    """The secrets check at the top of airflow-init, run by bash with the given values."""
    import subprocess

    check = init_script().split("# secrets checked")[0]
    return subprocess.run(["bash", "-c", check], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=30)


def test_placeholder_tokens_are_refused_at_start_up():
    good = {"INTERNAL_JOB_TOKEN": "Zq4bX9-randomly-generated-0f3c", "AIRFLOW__API_AUTH__JWT_SECRET": "x" * 32,
            "WAREHOUSE_JOB_PASSWORD": "k2P9vQ7sL1mN8rT4"}
    assert run_checks(**good).returncode == 0
    for name, value in (("INTERNAL_JOB_TOKEN", "change-me"), ("INTERNAL_JOB_TOKEN", "CHANGEME"),
                        ("INTERNAL_JOB_TOKEN", ""), ("INTERNAL_JOB_TOKEN", "short"),
                        ("AIRFLOW__API_AUTH__JWT_SECRET", "change-me-please-0123456"),
                        ("WAREHOUSE_JOB_PASSWORD", "placeholder-password")):
        done = run_checks(**{**good, name: value})
        assert done.returncode == 1 and name in done.stderr, (name, value, done.stderr)
    # Every Airflow service waits for airflow-init to succeed, so a refusal stops the stack.
    for name in SERVICES - {"postgres", "warehouse", "redis", "airflow-init"}:
        depends = load()["services"][name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
