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
