"""The operations page ("WMS bridge" in Airflow's menu): read-only views of the integration store."""
