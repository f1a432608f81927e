"""``make airflow``: a local Airflow to use the bridge by hand, in a browser, with one command.

python -m wmsbridge_tools.localairflow [--port 8080] [--fresh] [--orders 600] [--executor local|celery]

What it starts, all in this process's group (Ctrl-C stops every one of them):

- Airflow 3 as a deployment runs it: ``api-server``, ``scheduler`` (LocalExecutor), ``dag-processor``
  and ``triggerer``, each its own process, their output in ``$AIRFLOW_HOME/local/<name>.log``;
- with ``--executor celery`` (``make airflow EXECUTOR=celery``, docs/celery.md) the CeleryExecutor
  layout of docker-compose.yaml instead, its settings read from the same file (``celery.env``): Redis
  at 127.0.0.1:6379 as the broker, the result backend in the metadata database, and ``--workers``
  (2) ``airflow celery worker`` processes that behave like machines of their own: each in its own
  session (process group; the launcher stops it, Ctrl-C in the terminal does not reach it), with its
  own host name (the Celery node name and the task instances' ``hostname``), ``TMPDIR``,
  ``WMS_RATE_LIMIT_DIR`` and folder for its output (``$AIRFLOW_HOME/local/worker-<n>/``; task logs
  stay in the one log folder the api-server reads, as a shared volume in compose). One worker dying
  leaves the others running; ``$AIRFLOW_HOME/local/workers.json`` names each one's pid and session;
- PostgreSQL for Airflow's metadata (``postgresql://postgres@127.0.0.1:5432/airflow_wms``, created
  when missing; ``WMS_AIRFLOW_DB_URL`` names another). SQLite only when no PostgreSQL answers, with a
  warning: SQLite serialises every write and breaks backfills and parallel tasks;
- by default a demo: a shop made by the synthetic generator (``$AIRFLOW_HOME/demo/shop.sqlite``, kept
  between starts; ``--fresh`` makes a new one) and the WMS simulator in place of the warehouse. The
  simulated warehouse works on its own: every item arrives with the shop's stock (plus what paid
  orders hold), every accepted order ships ``--ship-after`` seconds later and its confirmation is
  posted to the api-server's receiver, so all five flows have something to do.

Preconfigured in the metadata database at every start: the connections ``shop_db`` (a standard
``sqlite``/``postgres``/``mysql`` connection) and ``qimen_default``, the Variable ``wms_bridge_config``
and the pool ``wms_warehouse``. Real settings come from environment variables instead of the demo:
``WMS_SHOP_URL`` (the shop's SQLAlchemy URL), ``WMS_QIMEN_URL`` + ``WMS_QIMEN_APP_KEY`` +
``WMS_QIMEN_SECRET`` + ``WMS_CUSTOMER_ID`` + ``WMS_OWNER_CODE`` + ``WMS_WAREHOUSE_CODE`` (the warehouse),
``WMS_BRIDGE_CONFIG`` (JSON, the Variable), ``WMS_POOL_SLOTS``. Connection testing (the Test button) is
enabled. The login (simple auth manager: users ``admin``, ``operator`` and the read-only ``viewer``) is
printed at start.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
# The Celery settings docker-compose.yaml reads too (env_file), and the local address of each compose
# service named in them.
CELERY_ENV = Path(__file__).resolve().parents[2] / "celery.env"
COMPOSE_HOSTS = {"redis": "127.0.0.1", "postgres": "127.0.0.1", "airflow-apiserver": "127.0.0.1"}
WORKER_HOSTNAME = "WMS_WORKER_HOSTNAME"  # a Celery worker's host name, read by worker_hostname()
DEFAULT_DB_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_wms"
USERS = {"admin": "admin", "operator": "op", "viewer": "viewer"}  # simple auth manager: user -> role
MARKER = "WMS_LOCAL_AIRFLOW"  # set in every child's environment: how stragglers are found
DEMO_PROFILE = "reference"
# Realistic demo values: Airflow's secret masker warns about every connection-extra string shorter
# than 5 characters ("Skipping masking for a secret as it's too short"), sensitive or not.
DEMO_CUSTOMER_ID, DEMO_OWNER_CODE, DEMO_WAREHOUSE_CODE = "82073683308314625", "OWNER-DEMO", "WH-HZ-01"
DEMO_APP_KEY = "demo-app-key"
BEIJING = timezone(timedelta(hours=8))
READY = re.compile(r"wms simulator ready: (\S+)")
DEFAULT_SHIP_AFTER_S = 60
STARTING_STOCK_OTHER_SHOP = 100  # per item, when the simulator stands in for the warehouse of a real shop
SECRET_OPTIONS = ("--secret", "--callback-secret")


def say(text: str) -> None:
    print(f"[make airflow] {text}", flush=True)


# -- the metadata database ---------------------------------------------------------------------------


def metadata_url(home: Path) -> str:
    """PostgreSQL if one answers (the database created when missing), else SQLite with a warning."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("WMS_AIRFLOW_DB_URL") or DEFAULT_DB_URL)
    if url.get_backend_name() != "postgresql":
        return url.render_as_string(hide_password=False)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": url.database}).first()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
                say(f"created the PostgreSQL database {url.database}")
        return url.render_as_string(hide_password=False)
    except sa.exc.OperationalError as err:
        fallback = f"sqlite:///{home / 'airflow.db'}"
        say(f"WARNING: PostgreSQL at {url.host}:{url.port or 5432} does not answer ({str(err).splitlines()[0]}); "
            f"falling back to {fallback}. SQLite serialises every write: backfills and parallel runs suffer. "
            "Start PostgreSQL (bash .ci/services) or set WMS_AIRFLOW_DB_URL.")
        return fallback
    finally:
        admin.dispose()


# -- secrets kept between starts --------------------------------------------------------------------


def local_secrets(state: Path) -> dict[str, str]:
    """Fernet key, JWT and session secrets shared by the components, and the users' passwords."""
    path = state / "secrets.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    if "fernet_key" not in data:
        from cryptography.fernet import Fernet

        data["fernet_key"] = Fernet.generate_key().decode()
    data.setdefault("jwt_secret", secrets.token_urlsafe(32))
    data.setdefault("api_secret_key", secrets.token_urlsafe(32))
    data.setdefault("simulator_secret", secrets.token_hex(16))
    data.setdefault("callback_token", secrets.token_urlsafe(24))
    path.write_text(json.dumps(data, indent=1))
    path.chmod(0o600)
    passwords = state / "passwords.json"
    known = json.loads(passwords.read_text()) if passwords.exists() else {}
    for user in USERS:
        known.setdefault(user, secrets.token_urlsafe(9))
    passwords.write_text(json.dumps(known) + "\n")
    passwords.chmod(0o600)
    return data


def airflow_env(home: Path, state: Path, db_url: str, port: int, keys: dict[str, str],
                executor: str = "local") -> dict[str, str]:
    """Every component's environment; with ``executor="celery"`` also the settings of ``celery.env``
    (hosts made local, a value already in the environment wins) and the result backend in the
    metadata database."""
    repo = Path(__file__).resolve().parents[2]
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),  # see env.sh: plugins/ is a provider
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc",
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS[executor],
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(state / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"{base}/",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        MARKER: marker(),
    })
    if executor == "celery":
        for key, value in local_celery_settings().items():
            env[key] = os.environ.get(key) or value
        env["AIRFLOW__CORE__EXECUTOR"] = EXECUTORS[executor]
        env.setdefault("AIRFLOW__CELERY__RESULT_BACKEND", celery_result_backend(db_url))
    return env


# -- the Celery layout --------------------------------------------------------------------------------


def read_env_file(path: Path = CELERY_ENV) -> dict[str, str]:
    """``KEY=VALUE`` lines as docker-compose reads an ``env_file`` (``#`` comments and blank lines
    skipped, the value taken literally)."""
    settings = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: not KEY=VALUE: {line!r}")
        settings[key.strip()] = value
    return settings


def local_host(value: str) -> str:
    """A URL naming a compose service (``redis://redis:6379/1``) with that service's local address."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return value
    if not parts.scheme or host not in COMPOSE_HOSTS:
        return value
    netloc = parts.netloc.rpartition("@")
    hostport = netloc[2].replace(host, COMPOSE_HOSTS[host], 1)
    return parts._replace(netloc=f"{netloc[0]}{netloc[1]}{hostport}").geturl()


def local_celery_settings(path: Path = CELERY_ENV) -> dict[str, str]:
    """``celery.env`` for this machine: every value that names a compose service made local."""
    return {key: local_host(value) for key, value in read_env_file(path).items()}


def celery_result_backend(db_url: str) -> str:
    """Celery's result backend in Airflow's metadata database, as docker-compose.yaml sets it."""
    return f"db+{db_url}"


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the local Celery workers: each its own host name (the task
    instances' ``hostname``), as if on a machine of its own; anything else: the machine's name."""
    name = os.environ.get(WORKER_HOSTNAME)
    if name:
        return name
    from airflow.utils.net import getfqdn

    return getfqdn()


@dataclass
class CeleryWorker:
    """One Celery worker of the local layout: what makes it look like a machine of its own."""

    name: str  # worker-1
    hostname: str  # its Celery host name (node celery@<hostname>) and the task instances' hostname
    folder: Path  # its own: TMPDIR, WMS_RATE_LIMIT_DIR, output

    @property
    def log(self) -> Path:
        return self.folder / "worker.log"

    def env(self, base: dict[str, str]) -> dict[str, str]:
        tmp, rate = self.folder / "tmp", self.folder / "rate-limit"
        for folder in (tmp, rate):
            folder.mkdir(parents=True, exist_ok=True)
        return {**base, "TMPDIR": str(tmp), "WMS_RATE_LIMIT_DIR": str(rate), WORKER_HOSTNAME: self.hostname,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "wmsbridge_tools.localairflow.worker_hostname"}

    def command(self) -> list[str]:
        # No log server: two on one machine would want the same port, and the api-server reads the
        # task logs from the shared log folder (compose: a volume, or remote logging).
        return [sys.executable, "-m", "airflow", "celery", "worker", "--celery-hostname", self.hostname,
                "--pid", str(self.folder / "worker.pid"), "--skip-serve-logs"]


def celery_workers(state: Path, count: int) -> list[CeleryWorker]:
    return [CeleryWorker(f"worker-{n}", f"wms-worker-{n}", state / f"worker-{n}") for n in range(1, count + 1)]


def check_redis(url: str) -> None:
    """The broker must answer before anything starts; say how to start it otherwise."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as err:
        raise SystemExit(f"the Celery broker {url} does not answer ({err}); start Redis (bash .ci/services) "
                         "or set AIRFLOW__CELERY__BROKER_URL") from None
    finally:
        client.close()


# -- the demo warehouse and shop --------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path
    own_group: bool = False  # a session of its own (a Celery worker: "another machine")


@dataclass
class Stack:
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str], log: Path, *, own_group: bool = False) -> Child:
        with log.open("a", encoding="utf-8") as out:
            out.write(f"\n===== {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC: {printable(cmd)} =====\n")
            out.flush()
            # Same process group as this launcher: Ctrl-C in the terminal reaches every component;
            # own_group: a session of its own, which only the launcher stops (or a test kills whole).
            process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=own_group)
        child = Child(name, process, log, own_group)
        self.children.append(child)
        return child

    def stop(self, grace: float = 30.0) -> None:
        # A Celery worker stops warm on SIGTERM to its main process (its running tasks finish first).
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop within {grace:.0f} s: killed")
                child.process.kill()
                child.process.wait()
            if child.own_group:  # whatever is left of its session (task runners have groups of their own)
                for pid in session_processes(child.process.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        kill_stragglers()


def printable(cmd: list[str]) -> str:
    """A command line for a log: secrets and URL queries (the callback token) masked."""
    shown = []
    for i, arg in enumerate(cmd):
        if i and cmd[i - 1] in SECRET_OPTIONS:
            arg = "***"
        elif "://" in arg and "?" in arg:
            arg = arg.split("?", 1)[0] + "?***"
        shown.append(arg)
    return " ".join(shown)


def session_processes(sid: int) -> list[int]:
    """Pids of the running processes (zombies aside) of session ``sid``: a Celery worker started in a
    session of its own and everything under it, the Task SDK's task runners included, which it puts
    in process groups of their own."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and fields[3] == str(sid) and fields[0] != "Z":
            found.append(int(proc.name))
    return found


def marker() -> str:
    """This stack's tag, in every child's environment (a test may choose it to find leftovers)."""
    return os.environ.get(MARKER) or str(os.getpid())


def processes_with_marker(value: str) -> list[int]:
    """Pids of the processes whose environment carries ``WMS_LOCAL_AIRFLOW=value``."""
    found, needle = [], f"{MARKER}={value}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def kill_stragglers() -> None:
    """Processes the components left behind (task runners, workers), found by the marker variable."""
    spare, pid = set(), os.getpid()  # this launcher and whatever started it (make, a test) may carry it too
    while pid > 1:
        spare.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    for pid in processes_with_marker(marker()):
        if pid not in spare:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start_simulator(stack: Stack, env: dict[str, str], workdir: Path, port: int, secret: str,
                    works_on_its_own: list[str]) -> str:
    """The simulated warehouse (state in ``simulator.sqlite``); ``works_on_its_own``: its options for
    shipping and stock (``simulator_automation``)."""
    log = workdir / "simulator.log"
    log.write_text("", encoding="utf-8")
    child = stack.start("simulator", [
        sys.executable, "-m", "wms_simulator", "--host", "127.0.0.1", "--port", str(port), "--secret", secret,
        "--customer-id", DEMO_CUSTOMER_ID, "--warehouse-code", DEMO_WAREHOUSE_CODE, "--owner-code", DEMO_OWNER_CODE,
        "--db", str(workdir / "simulator.sqlite"), "--confirm-shape", "juxing", *works_on_its_own,
    ], env, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = READY.search(log.read_text(encoding="utf-8", errors="replace"))
        if match:
            return match.group(1)
        if child.process.poll() is not None:
            break
        time.sleep(0.2)
    raise SystemExit(f"the simulator did not start; see {log}")


def simulator_automation(workdir: Path, shop_url: str | None, callback_url: str | None, ship_after: float) -> list[str]:
    """The simulator's options to work on its own: the starting stock of every item it will be sent
    (the demo shop's, in a file; a fixed quantity for another shop) and, unless ``ship_after`` is 0
    or there is no receiver to tell, automatic shipping with confirmations to ``callback_url``."""
    if shop_url is not None:
        stock_file = workdir / "warehouse-stock.json"
        stock_file.write_text(json.dumps(demo_warehouse_stock(shop_url), indent=0, sort_keys=True), encoding="utf-8")
        options = ["--starting-stock-file", str(stock_file)]
    else:
        options = ["--starting-stock", str(STARTING_STOCK_OTHER_SHOP)]
    if ship_after > 0 and callback_url:
        options += ["--auto-ship-after", f"{ship_after:g}", "--callback-url", callback_url]
    return options


def demo_warehouse_stock(shop_url: str) -> dict[str, int]:
    """The goods the warehouse holds per SKU code of the demo shop: the shop's stock plus what its paid
    orders hold (the shop took those off already; they are still on the warehouse's shelves), and
    every 10th code 3 more, found at the stocktake, so the first daily sync has something to write."""
    import sqlalchemy as sa

    engine = sa.create_engine(shop_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT s.sku_code, SUM(COALESCE(st.quantity, 0) + COALESCE((SELECT SUM(l.quantity)"
                " FROM shop_order_line l JOIN shop_order o ON o.id = l.order_id"
                " WHERE l.sku_id = s.id AND o.status = 'paid'), 0))"
                " FROM shop_sku s LEFT JOIN shop_stock st ON st.sku_id = s.id"
                " GROUP BY s.sku_code ORDER BY s.sku_code")).all()
    finally:
        engine.dispose()
    return {code: max(int(qty), 0) + (3 if i % 10 == 0 else 0) for i, (code, qty) in enumerate(rows)}


def make_demo_shop(workdir: Path, *, orders: int, fresh: bool) -> str:
    """The demo shop (reference profile), its orders paid over the last two weeks up to now (Beijing):
    the operations page has a today, and nothing was paid, shipped or updated in the future. Kept
    between starts unless ``fresh``."""
    import sqlalchemy as sa

    from wmsbridge.store.migrate import upgrade
    from wmsbridge_tools.synthetic.generator import generate

    shop = workdir / "shop.sqlite"
    if fresh:
        for stale in [*workdir.glob("shop.sqlite*"), *workdir.glob("simulator.sqlite*")]:
            stale.unlink()
    url = f"sqlite:///{shop}"
    if not shop.exists():
        now = datetime.now(BEIJING)
        engine = sa.create_engine(url)
        try:
            generate(engine, DEMO_PROFILE, orders=orders, skus=max(20, orders // 10), seed=1,
                     date_from=now.date() - timedelta(days=13), date_to=now.date() + timedelta(days=1), now=now)
        finally:
            engine.dispose()
        say(f"demo shop: {orders} orders -> {shop}")
    upgrade(url)  # the integration store lives in the shop database; tasks expect it migrated
    return url


# -- connections, Variable, pool --------------------------------------------------------------------


def shop_connection(url: str) -> dict:
    """A standard sqlite/postgres/mysql connection from a SQLAlchemy URL (no JSON extra to type)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return {"conn_type": "sqlite", "host": u.database}
    kind = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}.get(backend)
    if kind is None:
        return {"conn_type": "generic", "extra": json.dumps({"sqlalchemy_url": url})}
    return {"conn_type": kind, "host": u.host, "port": u.port, "login": u.username, "password": u.password,
            "schema": u.database}


def bridge_config(keys: dict[str, str], simulated: bool) -> str:
    """The Variable's JSON: ``WMS_BRIDGE_CONFIG`` as given, else the demo's settings: its sender (there
    is no default), the receiver's token (the callback URL .../wms/qimen/callback?token=..., kept in
    secrets.json) and, against the simulator, ``live`` (scheduled runs do their work)."""
    given = os.environ.get("WMS_BRIDGE_CONFIG")
    if given:
        return given
    from wmsbridge_tools.demo import DEMO_SENDER

    config = {"profile": DEMO_PROFILE, "default_logistics_code": "YTO", "sender": DEMO_SENDER,
              "callback_token": keys["callback_token"], "callback_customer_id": DEMO_CUSTOMER_ID}
    if simulated:
        config["live"] = True
    return json.dumps(config)


def callback_url(base: str, config: str) -> str | None:
    """The api-server's receiver with the Variable's token, or None when it has none (or is no JSON
    object: the DAGs name that mistake themselves)."""
    try:
        token = json.loads(config).get("callback_token")
    except (ValueError, AttributeError):
        return None
    return f"{base}/wms/qimen/callback?{urlencode({'token': token})}" if token else None


def settings_from_env(shop_url: str | None, simulator_url: str | None, keys: dict[str, str]) -> dict:
    env = os.environ
    if env.get("WMS_QIMEN_URL"):
        qimen = {"conn_type": "qimen", "host": env["WMS_QIMEN_URL"], "login": env.get("WMS_QIMEN_APP_KEY", ""),
                 "password": env.get("WMS_QIMEN_SECRET", ""),
                 "extra": json.dumps({"customer_id": env.get("WMS_CUSTOMER_ID", ""),
                                      "owner_code": env.get("WMS_OWNER_CODE", ""),
                                      "warehouse_code": env.get("WMS_WAREHOUSE_CODE", "")})}
    else:
        # 0 = no client-side rate limit: the local simulator needs none (a real connection keeps 5/s).
        qimen = {"conn_type": "qimen", "host": simulator_url, "login": DEMO_APP_KEY,
                 "password": keys["simulator_secret"],
                 "extra": json.dumps({"customer_id": DEMO_CUSTOMER_ID, "owner_code": DEMO_OWNER_CODE,
                                      "warehouse_code": DEMO_WAREHOUSE_CODE, "max_requests_per_second": 0})}
    qimen["description"] = "Juxing OS warehouse (Qimen WMS API) / 聚星仓库 (made by make airflow)"
    shop = shop_connection(env.get("WMS_SHOP_URL") or shop_url)
    shop["description"] = "Shop database / 商城数据库 (made by make airflow)"
    return {"connections": {"shop_db": shop, "qimen_default": qimen},
            "variables": {"wms_bridge_config": bridge_config(keys, simulated=not env.get("WMS_QIMEN_URL"))},
            "pools": {"wms_warehouse": int(env.get("WMS_POOL_SLOTS", "4"))}}


def provision(spec: dict) -> None:
    """Write connections, Variables and pools into the metadata database (run inside Airflow's env)."""
    from airflow.models import Connection, Variable
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        for conn_id, fields in spec["connections"].items():
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()
            session.add(Connection(conn_id=conn_id, **{k: v for k, v in fields.items() if v is not None}))
    for key, value in spec["variables"].items():
        Variable.set(key, value, description="bridge settings / 桥接配置 (docs/configuration.md)")
    for name, slots in spec["pools"].items():
        Pool.create_or_update_pool(name, slots, "Every request to the warehouse, all DAGs / 所有发往仓库的请求",
                                   include_deferred=False)


# -- the driver -------------------------------------------------------------------------------------


def wait_healthy(base: str, stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in stack.children:
            if child.process.poll() is not None:
                raise SystemExit(f"{child.name} exited with {child.process.returncode}; see {child.log}")
        try:
            with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    raise SystemExit(f"the api-server did not answer within {timeout:.0f} s")


def run(args: argparse.Namespace) -> int:
    repo = Path(__file__).resolve().parents[2]
    home = Path(os.environ.get("AIRFLOW_HOME") or repo / ".airflow").resolve()
    state, demo = home / "local", home / "demo"
    for folder in (home, state, demo, home / "plugins"):
        folder.mkdir(parents=True, exist_ok=True)
    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    keys = local_secrets(state)
    db_url = metadata_url(home)
    celery = args.executor == "celery"
    if celery and not db_url.startswith("postgresql"):
        raise SystemExit(f"the Celery layout keeps Airflow's metadata and Celery's results in PostgreSQL, "
                         f"not {db_url}: start PostgreSQL (bash .ci/services) or set WMS_AIRFLOW_DB_URL")
    env = airflow_env(home, state, db_url, args.port, keys, executor=args.executor)
    if celery:
        check_redis(env["AIRFLOW__CELERY__BROKER_URL"])
    stack = Stack()
    try:
        say(f"metadata database: {db_url}")
        done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, stdin=subprocess.DEVNULL,
                              stdout=(state / "db-migrate.log").open("w"), stderr=subprocess.STDOUT)
        if done.returncode:
            raise SystemExit(f"airflow db migrate failed; see {state / 'db-migrate.log'}")
        base = f"http://127.0.0.1:{args.port}"
        shop_url = simulator_url = None
        if not os.environ.get("WMS_SHOP_URL"):
            shop_url = make_demo_shop(demo, orders=args.orders, fresh=args.fresh)
        if not os.environ.get("WMS_QIMEN_URL"):
            receiver = callback_url(base, bridge_config(keys, simulated=True))
            automation = simulator_automation(demo, shop_url, receiver, args.ship_after)
            simulator_url = start_simulator(stack, env, demo, args.simulator_port, keys["simulator_secret"], automation)
            say(f"WMS simulator: {simulator_url} (log {demo / 'simulator.log'})")
            if "--auto-ship-after" in automation:
                say(f"  it ships every accepted order {args.ship_after:g} s after accepting it and posts the "
                    f"confirmation to {base}/wms/qimen/callback?token=***")
            elif args.ship_after > 0:
                say("  WARNING: WMS_BRIDGE_CONFIG has no callback_token: the simulator ships nothing on its own")
        spec = settings_from_env(shop_url, simulator_url, keys)
        done = subprocess.run([sys.executable, "-c", "import json,sys; from wmsbridge_tools.localairflow import provision;"
                               " provision(json.load(sys.stdin))"], env=env, input=json.dumps(spec), text=True,
                              stdout=(state / "provision.log").open("w"), stderr=subprocess.STDOUT)
        if done.returncode:
            raise SystemExit(f"writing connections/Variable/pool failed; see {state / 'provision.log'}")
        for name in COMPONENTS:
            stack.start(name, [sys.executable, "-m", "airflow", name], env, state / f"{name}.log")
        workers = celery_workers(state, args.workers) if celery else []
        for worker in workers:
            worker.folder.mkdir(parents=True, exist_ok=True)
            stack.start(worker.name, worker.command(), worker.env(env), worker.log, own_group=True)
        if celery:
            write_workers(state, stack, workers)
            say(f"CeleryExecutor: broker {redacted(env['AIRFLOW__CELERY__BROKER_URL'])}, results in the metadata "
                f"database, shared rate limit WMS_RATE_LIMIT_URL={redacted(env['WMS_RATE_LIMIT_URL'])} "
                f"(settings: {CELERY_ENV.name})")
            for worker, child in zip(workers, stack.children[-len(workers):]):
                say(f"  Celery worker {worker.hostname}: pid {child.process.pid} (a session of its own), "
                    f"TMPDIR, rate-limit dir and log in {worker.folder}")
        wait_healthy(base, stack, args.timeout)
        passwords = json.loads((state / "passwords.json").read_text())
        say(f"Airflow is up: {base}/  (logs in {state})")
        for user, role in USERS.items():
            say(f"  login: {user} / {passwords[user]}  ({role})")
        say(f"  callback URL for the warehouse: {base}/wms/qimen/callback?token=<callback_token> "
            f"(the token is in {state / 'secrets.json'}, never printed)")
        say("  DAGs are paused at first: unpause wms_item_sync, wms_order_push, wms_shipments, wms_order_cancel "
            "and wms_inventory_sync; manual runs: wms_order_push_manual. Ctrl-C stops everything.")
        gone: set[str] = set()
        while stop["signal"] is None:
            for child in stack.children:
                if child.process.poll() is None or child.name in gone:
                    continue
                if child.own_group and len(gone) + 1 < len(workers):
                    # a worker machine lost: the others take its tasks over (docs/celery.md)
                    gone.add(child.name)
                    say(f"{child.name} exited with {child.process.returncode}; see {child.log}. "
                        f"{len(workers) - len(gone)} worker(s) left")
                    continue
                say(f"{child.name} exited with {child.process.returncode}; see {child.log}. Stopping.")
                return 1
            time.sleep(0.5)
        say("stopping ...")
        return 0
    finally:
        stack.stop()
        say("stopped")


def write_workers(state: Path, stack: Stack, workers: list[CeleryWorker]) -> None:
    """``workers.json``: each Celery worker's pid, process group, session, host name and folder (what a
    test needs to take one of the "machines" down: its session, for the Task SDK runs each task in a
    process group of its own)."""
    by_name = {child.name: child for child in stack.children}
    (state / "workers.json").write_text(json.dumps([
        {"name": w.name, "hostname": w.hostname, "pid": by_name[w.name].process.pid,
         "pgid": os.getpgid(by_name[w.name].process.pid), "sid": os.getsid(by_name[w.name].process.pid),
         "folder": str(w.folder), "log": str(w.log)}
        for w in workers], indent=1) + "\n")


def redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: show only its scheme
        return url.split("://", 1)[0] + "://***"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wmsbridge_tools.localairflow", description=__doc__.splitlines()[0])
    parser.add_argument("--executor", choices=sorted(EXECUTORS), default="local",
                        help="local: LocalExecutor in the scheduler; celery: the Celery layout of docker-compose.yaml "
                             "(Redis broker, --workers workers; docs/celery.md)")
    parser.add_argument("--workers", type=int, choices=range(1, 10), default=2, metavar="N",
                        help="Celery workers, each like a machine of its own (default %(default)s)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("WMS_AIRFLOW_PORT", "8080")))
    parser.add_argument("--simulator-port", type=int, default=int(os.environ.get("WMS_SIMULATOR_PORT", "8710")),
                        help="0 = any free port")
    parser.add_argument("--orders", type=int, default=600, help="orders in a new demo shop")
    parser.add_argument("--fresh", action="store_true", help="a new demo shop and an empty simulated warehouse")
    parser.add_argument("--ship-after", type=float, default=DEFAULT_SHIP_AFTER_S, metavar="SECONDS",
                        help="the simulated warehouse ships each accepted order this long after accepting it "
                             "(default %(default)s; 0: never, ship through its admin API)")
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for the api-server")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
