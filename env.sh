# Source me: the project's venv and a project-local Airflow home (git-ignored, examples off).
# Used by the Makefile and by hand:  . ./env.sh && airflow dags list
_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$_root/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$_root/dags"
# plugins/ holds the local provider package (installed by requirements.txt), not Airflow plugins:
# Airflow imports every file of its plugins folder under its bare file name, which would shadow
# real packages (plugins/qimen_provider/hooks/qimen.py as `qimen`). Its plugins folder stays empty.
export AIRFLOW__CORE__PLUGINS_FOLDER="$AIRFLOW_HOME/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DEFAULT_TIMEZONE=utc
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$AIRFLOW_HOME/logs"
export PATH="$_root/.venv/bin:$PATH"
unset _root
