"""Airflow DAG file: `refresh_materialized_views`, built by the installed agent-warehouse package."""

from agent_warehouse.orchestration.dags import refresh_materialized_views

dag = refresh_materialized_views.build()
