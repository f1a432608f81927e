"""Alerts where Chinese shop teams look: a DingTalk (钉钉) group robot through Airflow's own Dingding
provider, and a WeCom (企业微信) group robot webhook.

Which channels and which events: ``alerts`` in the ``wms_bridge_config`` Variable
(``config.AlertSettings``). The secrets (DingTalk access token and optional signing secret, the WeCom
robot key) stay in Airflow connections and never reach a log: a failed send is logged with the
channel, the connection id and the error, every token, key and signature blanked.

An alert never fails what sends it: every error is caught and logged, so a task or a callback goes
on as if the alert had been sent. Importing this module is cheap (DAG files pass
``notify_failed_run`` as ``on_failure_callback`` at parse time): Airflow, its hooks and the
settings are loaded only when an alert is sent.

Docs: docs/operations.md#alerts--告警.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from wmsbridge.config import DEFAULT_BRIDGE_ID

log = logging.getLogger(__name__)

DINGTALK, WECOM = "dingtalk", "wecom"
BEIJING = timezone(timedelta(hours=8))
TIMEOUT_SECONDS = 10  # per channel: a hanging robot must not hold a task or the DAG processor
SAMPLES_SHOWN = 10
# What each robot takes in one markdown message (UTF-8 bytes): WeCom 4096, DingTalk about 20000.
MAX_BYTES = {DINGTALK: 18000, WECOM: 4000}
RUNBOOK = "docs/operations.md"

# Query parameters that carry a secret in a robot URL (a requests error names the whole URL).
_SECRET_PARAMS = re.compile(r"(?i)\b(access_token|key|sign|timestamp)=[^&\s'\"]*")
_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal"})

RUN_TYPES = {"scheduled": "定时", "manual": "手动", "backfill": "补跑", "asset_triggered": "数据触发"}
REASONS = {"task_failure": "任务失败", "timed_out": "运行超时", "all_tasks_deadlocked": "任务无法继续"}


def send_alert(title: str, lines: list[str], *, config=None) -> list[str]:
    """Send one markdown message (``title`` + ``lines``) to every configured channel; return the
    channels reached (``"dingtalk"``, ``"wecom"``). Never raises: a channel that fails is logged and
    the others still get the message. ``config``: a ``BridgeConfig``, else the settings are read."""
    settings = _settings(config)
    if settings is None or not settings.enabled:
        return []
    _guard_request_logs()
    reached = []
    for channel, conn_id, send in ((DINGTALK, settings.dingtalk_conn_id, _send_dingtalk),
                                   (WECOM, settings.webhook_conn_id, _send_wecom)):
        if not conn_id:
            continue
        secrets: set[str] = set()  # filled by the sender as soon as it reads the connection
        failure = None
        try:
            send(conn_id, title, list(lines), settings, secrets)
        except Exception as err:  # noqa: BLE001 - an alert must never fail its caller
            failure = _one_line(err, secrets)
        # logged outside the except block: a broken log handler prints the exception being handled,
        # and requests' errors name the whole URL, token included
        if failure:
            log.warning("alert not sent to %s (connection %s): %s", channel, conn_id, failure)
        else:
            reached.append(channel)
    if reached:
        log.info("alert sent to %s: %s", ", ".join(reached), title)
    return reached


def notify_failed_run(context) -> None:
    """DAG-level ``on_failure_callback``: tell the channels a run failed (event ``failed_run``).

    Airflow 3 calls it with the failed run's context, in the DAG processor (``dag.test()``: in
    process): ``dag``, ``run_id``, ``reason`` and, when a task failed, that task's context (``ti``,
    ``dag_run``). Shaped like Airflow's ``BaseNotifier.notify(context)``, but a plain function: this
    module must import without Airflow. Never raises."""
    failure = None
    try:
        for config in _failed_run_configs(context):
            if "failed_run" not in config.alerts.events:
                continue
            lines = failed_run_lines(context)
            if config.bridge_id != DEFAULT_BRIDGE_ID:
                lines.insert(0, f"桥接 / bridge: {config.bridge_id}")
            send_alert(f"【WMS】运行失败 / run failed: {_dag_id(context)}", lines, config=config)
    except Exception as err:  # noqa: BLE001 - a callback that raises only adds noise to the processor log
        failure = _one_line(err)
    if failure:
        log.warning("failed-run alert not sent: %s", failure)


def notify_needs_person(flow: str, new: int, samples: list[str], *, run_id: str, dag_id: str,
                        config=None) -> list[str]:
    """Tell the channels that run ``run_id`` found ``new`` records newly waiting for a person
    (event ``needs_person``); ``samples``: some of them with their reasons. Returns the channels
    reached; nothing is sent when ``new`` is 0 or the event is off. Never raises."""
    if new <= 0:
        return []
    failure = None
    try:
        config = config if config is not None else _config()
        if config is None or "needs_person" not in config.alerts.events:
            return []
        shown = list(samples[:SAMPLES_SHOWN])
        lines = [f"流程 / flow: {flow}", f"新增待人工处理 / newly waiting for a person: {new}"]
        if config.bridge_id != DEFAULT_BRIDGE_ID:
            lines.insert(0, f"桥接 / bridge: {config.bridge_id}")
        lines += [f"- {sample}" for sample in shown]
        if new > len(shown):
            lines.append(f"另有 {new - len(shown)} 条 / and {new - len(shown)} more")
        lines += [f"DAG: {dag_id}", f"运行 / run: {run_id}", _beijing_now_line(),
                  f"处理办法 / what to do: {RUNBOOK}"]
        lines += _run_link(dag_id, run_id)
        return send_alert(f"【WMS】{new} 条需要人工处理 / {new} need a person: {flow}", lines, config=config)
    except Exception as err:  # noqa: BLE001 - an alert must never fail the task that found the records
        failure = _one_line(err)
    log.warning("needs-person alert not sent: %s", failure)
    return []


def notify_report(method: str, order_code: str | None, summary: str, *, config=None) -> list[str]:
    """Tell the channels that the warehouse reported something a person must deal with (event
    ``needs_person``): a report the receiver stored (no run decides it, so no run alerts for it).
    Returns the channels reached. Never raises."""
    failure = None
    try:
        config = config if config is not None else _config()
        if config is None or "needs_person" not in config.alerts.events:
            return []
        lines = [f"报文 / message: {method}", f"订单 / order: {order_code or '-'}", summary, _beijing_now_line(),
                 f"处理办法 / what to do: {RUNBOOK}"]
        return send_alert(f"【WMS】仓库上报需人工处理 / the warehouse reports: {order_code or method}", lines,
                          config=config)
    except Exception as err:  # noqa: BLE001 - an alert must never fail the receiver's answer
        failure = _one_line(err)
    log.warning("report alert not sent: %s", failure)
    return []


def failed_run_lines(context) -> list[str]:
    """The lines of a failed-run alert, from what the callback context holds."""
    dag_id, run_id = _dag_id(context), str(context.get("run_id") or "")
    dag_run = context.get("dag_run")
    run_type = _text(getattr(dag_run, "run_type", None)) or run_id.split("__", 1)[0]
    lines = [f"DAG: {dag_id}", f"运行 / run: {run_id}", f"类型 / run type: {_both(RUN_TYPES, run_type)}"]
    ti = context.get("ti") or context.get("task_instance")
    if ti is not None and getattr(ti, "task_id", None):
        map_index = getattr(ti, "map_index", -1)
        mapped = f"[{map_index}]" if isinstance(map_index, int) and map_index >= 0 else ""
        lines.append(f"失败任务 / failed task: {ti.task_id}{mapped}")
    reason = _text(context.get("reason"))
    if reason:
        lines.append(f"原因 / reason: {_both(REASONS, reason)}")
    error = context.get("exception")
    if error:
        lines.append(f"错误 / error: {_one_line(error)}")
    lines.append(_beijing_now_line())
    lines += _run_link(dag_id, run_id)
    return lines


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets and every secret-bearing URL parameter blanked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", text)


# -- the channels ------------------------------------------------------------------------------

def _send_dingtalk(conn_id: str, title: str, lines: list[str], settings, secrets: set[str]) -> None:
    """Through the provider's ``DingdingHook`` (markdown; raises unless DingTalk answers errcode 0)."""
    text = _fit(f"#### {title}\n\n" + "\n\n".join(lines), MAX_BYTES[DINGTALK])
    if settings.at_mobiles:  # DingTalk shows a mention only when the text names the number too
        text += "\n\n" + " ".join(f"@{mobile}" for mobile in settings.at_mobiles)
    hook = _dingtalk_hook_class()(dingding_conn_id=conn_id, message_type="markdown",
                                  message={"title": title, "text": text},
                                  at_mobiles=list(settings.at_mobiles), secrets=secrets)
    hook.send()


def _send_wecom(conn_id: str, title: str, lines: list[str], settings, secrets: set[str]) -> None:
    """A WeCom group robot: POST ``{"msgtype": "markdown", ...}`` to the connection's host with
    ``?key=<password>`` through Airflow's ``HttpHook``; raises unless WeCom answers errcode 0."""
    from airflow.providers.http.hooks.http import HttpHook

    hook = HttpHook(method="POST", http_conn_id=conn_id)
    hook._log = _RedactingLog(hook.log, secrets)  # its connection-error warning names the whole URL
    key = hook.get_connection(conn_id).password
    if not key:
        raise ValueError(f"connection {conn_id} has no robot key: set it as the password")
    secrets.add(key)
    body = {"msgtype": "markdown",
            "markdown": {"content": _fit(f"## {title}\n" + "\n".join(lines), MAX_BYTES[WECOM])}}
    response = hook.run(json=body, params={"key": key}, extra_options={"timeout": TIMEOUT_SECONDS})
    answer = _json_answer(response)
    if answer.get("errcode") != 0:
        raise RuntimeError(f"WeCom answered errcode {answer.get('errcode')}: {answer.get('errmsg')}")


_DINGTALK_HOOK = None


def _dingtalk_hook_class():
    """The provider's ``DingdingHook`` with what it lacks for alerts: a request timeout, DingTalk's
    signature (加签: the connection's extra ``secret``) and a log that never shows the token.
    Built on first use, so importing this module imports no hook."""
    global _DINGTALK_HOOK
    if _DINGTALK_HOOK is not None:
        return _DINGTALK_HOOK
    from airflow.providers.dingding.hooks.dingding import DingdingHook

    class AlertDingdingHook(DingdingHook):
        def __init__(self, *args, secrets: set[str], **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._secrets = secrets
            self._log = _RedactingLog(self.log, secrets)  # its connection-error warning names the URL

        def get_conn(self, headers=None, extra_options=None):
            session = super().get_conn(headers, extra_options)
            self.merged_extra = {"timeout": TIMEOUT_SECONDS}  # the provider sends without a timeout
            return session

        def _get_endpoint(self) -> str:
            conn = self.get_connection(self.http_conn_id)
            secret = conn.extra_dejson.get("secret")
            self._secrets.update(s for s in (conn.password, secret) if s)
            endpoint = super()._get_endpoint()
            if not secret:
                return endpoint
            timestamp, sign = dingtalk_signature(secret)
            return f"{endpoint}&timestamp={timestamp}&sign={quote(sign, safe='')}"

    _DINGTALK_HOOK = AlertDingdingHook
    return _DINGTALK_HOOK


def dingtalk_signature(secret: str, timestamp_ms: int | None = None) -> tuple[int, str]:
    """DingTalk's robot signature (加签): base64(HMAC-SHA256(secret, "<timestamp ms>\\n<secret>"))."""
    timestamp_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return timestamp_ms, base64.b64encode(digest).decode()


class _RedactedRequestLines(logging.Filter):
    """urllib3 logs each request line at DEBUG, query string included: blank the secret parameters."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRET_PARAMS.search(message):
            record.msg, record.args = redact(message), ()
        return True


def _guard_request_logs() -> None:
    """Install ``_RedactedRequestLines`` on urllib3's logger once (at the first send, not at import)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactedRequestLines) for f in logger.filters):
        logger.addFilter(_RedactedRequestLines())


class _RedactingLog:
    """A hook's logger that blanks secrets before logging: Airflow's HTTP hook logs a refused
    connection with the whole URL, the DingTalk token or the WeCom key in it."""

    def __init__(self, inner, secrets: set[str]) -> None:
        self._inner, self._secrets = inner, secrets

    def __getattr__(self, name: str):
        method = getattr(self._inner, name)
        if name not in _LOG_METHODS:
            return method

        def logged(msg, *args, **kwargs):
            try:
                text = str(msg) % args if args else str(msg)
            except (TypeError, ValueError):
                text = " ".join(map(str, (msg, *args)))
            level = "error" if name == "exception" else name  # a traceback would show the URL again
            return getattr(self._inner, level)("%s", redact(text, self._secrets))

        return logged


# -- helpers -----------------------------------------------------------------------------------

def _settings(config):
    """The alert settings of ``config``, or of the configured settings; None when unreadable."""
    config = config if config is not None else _config()
    return None if config is None else config.alerts


def _config():
    """The bridge settings, read now (never at import); None, logged, when they cannot be read.
    With several bridges: ``default`` if configured, else the first."""
    deployment = _deployment()
    if deployment is None:
        return None
    return deployment.primary


def _deployment():
    """Every bridge's settings, read now; None, logged, when they cannot be read."""
    from wmsbridge.config import load_deployment

    failure = None
    try:
        return load_deployment()
    except Exception as err:  # noqa: BLE001 - an alert must never fail its caller
        failure = _one_line(err)
    log.warning("alerts: settings not readable, nothing sent: %s", failure)
    return None


def _failed_run_configs(context) -> list:
    """Whose channels hear of a failed run: the bridges whose tasks failed (a flow task is mapped
    over the bridges, its map index named after its bridge), else every enabled bridge's distinct
    channels (a run that failed before it reached one bridge, e.g. unreadable settings)."""
    deployment = _deployment()
    if deployment is None:
        return []
    failed = [b for b in _failed_task_names(context) if b in deployment.bridges]
    if failed:
        return [deployment.bridges[b] for b in dict.fromkeys(failed)]
    chosen, seen = [], set()
    for bridge_id in deployment.enabled_ids() or list(deployment.bridges):
        config = deployment.bridges[bridge_id]
        channels = (config.alerts.dingtalk_conn_id, config.alerts.webhook_conn_id)
        if channels not in seen:
            seen.add(channels)
            chosen.append(config)
    return chosen


def _failed_task_names(context) -> list[str]:
    """The map-index names (``{{ bridge }}``) of the run's failed tasks, read from Airflow's
    metadata database where the DAG callback runs; empty when it cannot be read."""
    dag_run, names = context.get("dag_run"), []
    try:
        import sqlalchemy as sa

        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            names = list(session.scalars(sa.select(TaskInstance.rendered_map_index).where(
                TaskInstance.dag_id == _dag_id(context), TaskInstance.run_id == str(
                    context.get("run_id") or getattr(dag_run, "run_id", "")),
                TaskInstance.state.in_(("failed", "upstream_failed")), TaskInstance.map_index >= 0)))
    except Exception as err:  # noqa: BLE001 - then every bridge's channels hear of it
        log.warning("alerts: the failed tasks' bridges cannot be read (%s); telling every bridge", _one_line(err))
    return [n for n in names if n]


def _dag_id(context) -> str:
    for holder in (context.get("dag"), context.get("dag_run"), context.get("ti")):
        if getattr(holder, "dag_id", None):
            return str(holder.dag_id)
    return "?"


def _both(chinese: dict[str, str], word: str) -> str:
    """Airflow's word with its Chinese first, when we have one ("定时 scheduled")."""
    return f"{chinese[word]} {word}" if word in chinese else word


def _text(value) -> str:
    """An enum's value or a plain string ('' for None)."""
    return "" if value is None else str(getattr(value, "value", value))


def _one_line(error, secrets: Iterable[str] = ()) -> str:
    """An error (or text) on one line, at most 300 characters, secrets blanked before cutting."""
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    text = redact(" ".join(text.split()), secrets)
    return text if len(text) <= 300 else text[:299] + "…"


def _beijing_now_line() -> str:
    return f"北京时间 / Beijing time: {datetime.now(BEIJING):%Y-%m-%d %H:%M:%S}"


def _run_link(dag_id: str, run_id: str) -> list[str]:
    """A markdown link to the run in Airflow's UI, when its address is configured."""
    base = os.environ.get("AIRFLOW__API__BASE_URL")
    if not base:
        try:
            from airflow.sdk.configuration import conf

            base = conf.get("api", "base_url", fallback=None)
        except Exception:  # noqa: BLE001 - no Airflow configuration: no link
            base = None
    if not base or not run_id:
        return []
    url = f"{base.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return [f"[查看运行 / open the run]({url})"]


def _fit(text: str, max_bytes: int) -> str:
    """``text`` cut to what the robot takes (UTF-8 bytes), marked when cut."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes - 8].decode(errors="ignore") + "\n…"


def _json_answer(response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise RuntimeError(f"not a robot answer (HTTP {response.status_code}): {response.text[:200]!r}")
    return answer


def main() -> int:
    """``python -m wmsbridge.alerts``: send a test message to every configured channel; exit 0 when
    all of them were reached, 1 when one was not (its log line says why), 2 when none is configured.

    Run it where the scheduler runs: it reads the Variable and the connections from Airflow's
    metadata database as the scheduler does (a plain shell sees only environment variables and
    external secrets backends)."""
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
    config = _config()
    wanted = [channel for channel, conn_id in ((DINGTALK, config and config.alerts.dingtalk_conn_id),
                                               (WECOM, config and config.alerts.webhook_conn_id)) if conn_id]
    if not wanted:
        print("no alert channel configured: set alerts.dingtalk_conn_id and/or alerts.webhook_conn_id "
              "in wms_bridge_config (docs/operations.md#alerts--告警)", file=sys.stderr)
        return 2
    reached = send_alert("【WMS】告警测试 / alert test",
                         ["这是一条测试消息，无需处理 / a test message, nothing to do", _beijing_now_line()],
                         config=config)
    for channel in wanted:
        print(f"{channel}: {'reached' if channel in reached else 'NOT reached (see the warning above)'}")
    return 0 if reached == wanted else 1


if __name__ == "__main__":
    sys.exit(main())
