"""Airflow DAG file: `cleanup_old_data`, built by the installed agent-warehouse package."""

from agent_warehouse.orchestration.dags import cleanup_old_data

dag = cleanup_old_data.build()
