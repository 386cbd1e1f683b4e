"""The package's DAGs, one module per DAG: ``<dag_id>.build()`` returns the DAG.

A deployment's DAGs folder (or DAG bundle) holds one short file per DAG, as the
repository's ``dags/`` does (there with a docstring)::

    # Airflow DAG file: `hourly_rollup`, built by the installed agent-warehouse package.
    from agent_warehouse.orchestration.dags import hourly_rollup

    dag = hourly_rollup.build()

Airflow reads a file only if it mentions both "airflow" and "dag", hence the docstring.
Each ``build()`` reads the settings when it is called (at DAG-parse time).
"""
