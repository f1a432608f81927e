"""Print the rate the warehouse sees from TWO worker machines sharing one account (issue 26).

Two worker processes, each in a process tree (session) of its own with its own
``WMS_RATE_LIMIT_DIR`` temporary directory, i.e. as two machines see it, send ``inventory.query``
through the real ``QimenHook`` (a ``qimen`` connection from ``AIRFLOW_CONN_QIMEN_DEFAULT``, at the
connection's DEFAULT ``max_requests_per_second``) from THREADS threads each, for SECONDS seconds, to
the WMS simulator (its own process). Both start together. The figures come from the simulator's own
record of the requests it received (``received_at``, to the millisecond): the server is the truth.

* shared: ``WMS_RATE_LIMIT_URL=redis://127.0.0.1:6379/15`` (``--url``, any URL the limiter takes,
  e.g. a PostgreSQL database): one limit for both.
  ``shared_rate_two_workers`` = achieved rate / set rate (target >= 0.95) and
  ``shared_rate_max_per_1s_window`` = the most requests in any one-second window [t, t + 1)
  (must be <= the set rate).
* file only (no URL, for comparison): each machine holds the rate on its own, together about twice it.

    python benchmarks/shared_rate.py                 # 12 s per run, two runs
    python benchmarks/shared_rate.py --quick --json  # 6 s per run; last line JSON (make bench reads it)

Figures are printed, never asserted; the load average is printed with them. The limiter spaces
starts 1.025 / rate apart; arrivals that stray further than that 25 ms headroom (a loaded machine:
a thread woken late) can still show rate + 1 in one second: the shared row says how far they strayed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from order_push_memory import CACHE, CUSTOMER_ID, OWNER, SECRET, WAREHOUSE, BenchSimulator  # noqa: E402

APP_KEY = "bench-app"
REDIS_URL = "redis://127.0.0.1:6379/15"
THREADS = 4  # each machine alone would send faster than the limit: it is the limit that is measured
QUERY = "<request><criteriaList><criteria><itemCode>BENCH-SKU</itemCode></criteria></criteriaList></request>"


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def default_rate() -> float:
    """The connection's default max_requests_per_second (what an unset extra means)."""
    from qimen_provider.connection import EXTRA_FIELDS

    return float(next(f.default for f in EXTRA_FIELDS if f.name == "max_requests_per_second"))


def connection_json(base_url: str) -> str:
    """The warehouse connection as a deployment sets it; the rate limit left at its default."""
    return json.dumps({"conn_type": "qimen", "host": base_url, "login": APP_KEY, "password": SECRET,
                       "extra": {"customer_id": CUSTOMER_ID, "owner_code": OWNER, "warehouse_code": WAREHOUSE}})


# --- one worker machine ----------------------------------------------------------------------------


def worker(seconds: float, threads: int) -> None:
    """Build the hook, say ready, wait for "go" on stdin, send until the time is up; print counts."""
    from qimen_provider.hooks.qimen import QimenHook

    hook = QimenHook("qimen_default", max_retries=0)
    hook.settings  # noqa: B018 - the connection and the limiter now, not inside the measured time
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + seconds
    sent, failed = [0] * threads, [0] * threads

    def send(i: int) -> None:
        while time.monotonic() < deadline:
            try:
                hook.call("inventory.query", QUERY, raise_on_failure=False)
                sent[i] += 1
            except Exception:  # noqa: BLE001 - counted; the simulator's record is what is measured
                failed[i] += 1

    pool = [threading.Thread(target=send, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    hook.close()
    print(json.dumps({"sent": sum(sent), "failed": sum(failed)}), flush=True)


# --- two machines, one warehouse -------------------------------------------------------------------


def run(sim_url: str, url: str | None, seconds: float, threads: int) -> dict:
    """Two worker processes against the simulator; their counts."""
    processes = []
    dirs = [tempfile.TemporaryDirectory(prefix=f"bench-machine-{i}-") for i in range(2)]
    try:
        for folder in dirs:
            env = {**os.environ, "AIRFLOW_CONN_QIMEN_DEFAULT": connection_json(sim_url),
                   "WMS_RATE_LIMIT_DIR": folder.name, "PYTHONUNBUFFERED": "1"}
            env.pop("WMS_RATE_LIMIT_URL", None)
            if url:
                env["WMS_RATE_LIMIT_URL"] = url
            processes.append(subprocess.Popen(
                [sys.executable, __file__, "--worker", "--seconds", str(seconds), "--threads", str(threads)],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True))
        for p in processes:
            # Airflow's logging writes to stdout too: skip its lines up to ours.
            while (said := p.stdout.readline()) and said.strip() != "ready":
                pass
            if not said:
                raise RuntimeError("a worker did not start")
        for p in processes:
            p.stdin.write("go\n")
            p.stdin.flush()
        counts = []
        for p in processes:
            out, _ = p.communicate(timeout=seconds + 120)
            if p.returncode:
                raise RuntimeError(f"a worker failed with exit code {p.returncode}")
            counts.append(json.loads(out.strip().splitlines()[-1]))
        return {"sent": sum(c["sent"] for c in counts), "failed": sum(c["failed"] for c in counts)}
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
        for folder in dirs:
            folder.cleanup()


def busiest_second(arrivals: list[float]) -> int:
    """The most arrivals in any one-second window [t, t + 1) that starts at an arrival."""
    busiest, j = 0, 0
    for i, t in enumerate(arrivals):
        while j < len(arrivals) and arrivals[j] < t + 1 - 1e-6:
            j += 1
        busiest = max(busiest, j - i)
    return busiest


def jitter_ms(arrivals: list[float], interval: float) -> float:
    """How far arrivals stray from one even grid of ``interval`` (max - min offset): the limiter's
    slots are exact, so this is the network's, the scheduler's and the simulator's share. More than
    the limiter's headroom (25 ms per second) can put rate + 1 requests into one second."""
    offsets = [t - (arrivals[0] + k * interval) for k, t in enumerate(arrivals)]
    return round((max(offsets) - min(offsets)) * 1000, 1)


def measure(label: str, url: str | None, seconds: float, threads: int) -> dict:
    """One run on a fresh simulator: the warehouse's view of two machines sending at once."""
    from qimen_provider.rate_limit import RateLimiter, redact_url
    from wms_simulator.client import SimulatorAdmin

    runs = CACHE / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    set_rate = default_rate()
    with BenchSimulator(runs / f"shared-rate-{label}.log") as sim:
        before = load()
        counts = run(sim.base_url, url, seconds, threads)
        arrivals = sorted(datetime.fromisoformat(r["received_at"]).timestamp()
                          for r in SimulatorAdmin(sim.base_url).requests(method="inventory.query"))
        key = f"{urlsplit(sim.base_url).netloc}|{APP_KEY}"
    if url and url.split(":", 1)[0] in ("redis", "rediss", "unix"):
        forget_key(url, key)
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    return {"limiter": label, "url": redact_url(url) if url else "", "set_rate": set_rate, "machines": 2,
            "threads_per_machine": threads,
            "seconds": seconds, "requests": len(arrivals), "sent": counts["sent"], "failed": counts["failed"],
            "achieved_rate": round(achieved, 3), "vs_set": round(achieved / set_rate, 3),
            "max_per_1s_window": busiest_second(arrivals),
            "arrival_jitter_ms": jitter_ms(arrivals, RateLimiter(set_rate).interval) if url else None, "load": before}


def forget_key(url: str, shared_key: str) -> None:
    """Delete the run's Redis key (it would expire within a minute anyway)."""
    import redis

    from qimen_provider.rate_limit import RedisSlots, key_digest

    client = redis.Redis.from_url(url)
    try:
        client.delete(RedisSlots.key_for(key_digest(shared_key)))
    finally:
        client.close()


def line(row: dict) -> str:
    jitter = row["arrival_jitter_ms"]
    jitter = "" if jitter is None else f", arrivals off the grid by up to {jitter:g} ms"
    return (f"  {row['limiter']:10} 2 machines x {row['threads_per_machine']} threads at the default "
            f"{row['set_rate']:g}/s: {row['requests']} requests in {row['seconds']:g}s at "
            f"{row['achieved_rate']:.3f}/s = {row['vs_set']:.3f} x the set rate, busiest one-second window "
            f"{row['max_per_1s_window']}{jitter} ({row['load']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--threads", type=int, default=THREADS, help="threads per worker machine")
    parser.add_argument("--url", default=REDIS_URL, help="WMS_RATE_LIMIT_URL of the shared run")
    parser.add_argument("--quick", action="store_true", help="6 s per run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.seconds, args.threads)
        return
    seconds = 6.0 if args.quick else args.seconds
    print(f"two worker machines (processes with a WMS_RATE_LIMIT_DIR each) through QimenHook, {seconds:g}s per run, "
          "counted by the simulator", flush=True)
    shared = measure("shared", args.url, seconds, args.threads)
    print(line(shared), flush=True)
    file_only = measure("file only", None, seconds, args.threads)
    print(line(file_only), flush=True)
    print(f"  shared_rate_two_workers {shared['vs_set']:.3f} (target >= 0.95), shared_rate_max_per_1s_window "
          f"{shared['max_per_1s_window']} (target <= {shared['set_rate']:g}); the file limiter alone: "
          f"{file_only['vs_set']:.2f} x the set rate, up to {file_only['max_per_1s_window']} in one second", flush=True)
    if args.json:
        print(json.dumps({"shared_rate_two_workers": shared["vs_set"],
                          "shared_rate_max_per_1s_window": shared["max_per_1s_window"],
                          "set_rate": shared["set_rate"],
                          "file_only_rate_two_workers": file_only["vs_set"],
                          "file_only_max_per_1s_window": file_only["max_per_1s_window"],
                          "rows": [shared, file_only]}))


if __name__ == "__main__":
    main()
