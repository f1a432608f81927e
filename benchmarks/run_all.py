"""``make bench``: every benchmark in one run; each figure printed next to its target, and all of
them written as JSON to ``$BENCH_OUT`` (default ``bench-results.json``, git-ignored).

Figures, never assertions: a figure that misses its target is printed as such, the run still
exits 0. Each figure carries the load average at the time it was taken (other work on the
machine shares its cores). Shops are cached: ``.bench/`` (SQLite) and the PostgreSQL databases
``wms_bench_extract_*`` (the million-order shop takes a minute or two to build, once).

    python benchmarks/run_all.py            # the full set, about 10 minutes on 2 cores
    python benchmarks/run_all.py --quick    # smaller sizes, for a smoke run (figures say so)
    python benchmarks/run_all.py --skip push backfill

The generator's speed stays a script of its own (``benchmarks/generator_speed.py``): it writes
100,000 orders per database and would take a third of the time budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def machine() -> dict:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "load_at_start": load()}


def section(title: str) -> None:
    print(f"\n== {title} ({load()})", flush=True)


def verdict(value: float | None, target: float, *, at_most: bool = False) -> str:
    if value is None:
        return "not measured"
    ok = value <= target if at_most else value >= target
    return f"target {'<=' if at_most else '>='} {target}: {'met' if ok else 'MISSED'}"


def guarded(results: dict, key: str, work) -> None:
    """Run one benchmark; a failure is recorded as null with its reason, the others go on."""
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the other figures
        results[key] = None
        results.setdefault("not_measured", {})[key] = f"failed: {type(exc).__name__}: {exc}"
        print(f"  {key}: FAILED ({type(exc).__name__}: {exc})", flush=True)


def script_figures(name: str, quick: bool, *args: str):
    """Run ``benchmarks/<name> --json`` in its own interpreter (a pipeline measured as production
    runs it, in a process of its own, not after the heap another benchmark left): its lines are
    printed, its last line (JSON) is returned."""
    done = subprocess.run([sys.executable, str(HERE / name), "--json", *args] + (["--quick"] if quick else []),
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, text=True, check=True)
    *human, last = done.stdout.strip().splitlines()
    print("\n".join(human))  # its own lines; the JSON line is summed up by the caller
    return json.loads(last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes everywhere (a smoke run)")
    parser.add_argument("--out", default=os.environ.get("BENCH_OUT") or "bench-results.json")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["transform", "push", "extract", "backfill", "inventory", "confirmations",
                                 "shared_rate", "address", "dags"])
    args = parser.parse_args()
    quick = args.quick
    started = time.monotonic()
    results: dict = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "machine": machine(), "scaled_down": quick, "notes": [], "not_measured": {}}

    # --- transform --------------------------------------------------------------------------------
    if "transform" not in args.skip:
        section("transform: frames -> validated deliveryorder.create XML, one core")

        def transform() -> None:
            import transform_speed

            orders, naive = (5_000, 1_000) if quick else (20_000, 2_000)
            r = transform_speed.measure(orders, naive)
            results["transform_orders_per_s"] = r["transform_orders_per_s"]
            results["transform_vs_bare_lxml"] = r["transform_vs_bare_lxml"]
            results["transform_naive_row_loop_orders_per_s"] = r["naive_row_loop_orders_per_s"]
            results["transform_detail"] = r
            print(f"  transform_orders_per_s       {r['transform_orders_per_s']:>8,}  ({orders:,} orders x 3 lines, CPU time)")
            print(f"  bare lxml (floor)            {r['bare_lxml_orders_per_s']:>8,}")
            print(f"  transform_vs_bare_lxml       {r['transform_vs_bare_lxml']:>8.2f}  "
                  f"{verdict(r['transform_vs_bare_lxml'], 0.6)}")
            print(f"  naive row loop               {r['naive_row_loop_orders_per_s']:>8,}  "
                  f"(iterrows + generic walkers, {naive:,} orders; the transform is {r['transform_vs_naive']:.1f}x)")

        guarded(results, "transform_orders_per_s", transform)

    # --- pushes -----------------------------------------------------------------------------------
    if "push" not in args.skip:
        section("push vs bound: deliveryorder.create at 20 ms latency, C in flight, bound C / 0.020")

        def push() -> None:
            paid, paid_c1 = (1_200, 400) if quick else (3_300, 1_100)
            concurrencies = ["8"] if quick else ["1", "4", "8"]
            if paid_c1 < paid:
                results["notes"].append(f"push: C = 1 (sequential) runs over a shop of {paid_c1:,} paid orders, "
                                        f"C = 4 and 8 over {paid:,} (about 95 % valid): C = 1 takes orders x 20 ms")
            rows = script_figures("push_speed.py", False, "--concurrency", *concurrencies, "--orders", str(paid),
                                  "--orders-c1", str(paid_c1), "--hook-only",
                                  "--hook-only-orders", str(1_000 if quick else 2_000))
            table: dict = {}
            for r in rows:
                name = "no_store" if r["backend"].startswith("no store") else r["backend"]
                table.setdefault(name, {})[str(r["concurrency"])] = r["push_vs_bound"]
            results["push_vs_bound"] = table
            results["push_sequential_orders_per_s"] = {r["backend"]: r["orders_per_s"] for r in rows
                                                       if r["concurrency"] == 1}
            results["push_detail"] = rows
            for backend in ("sqlite", "postgresql"):
                at8 = table.get(backend, {}).get("8")
                print(f"  push_vs_bound {backend} C=8: {at8}  {verdict(at8, 0.8)}")

        guarded(results, "push_vs_bound", push)

        def push_rate() -> None:
            row = script_figures("push_speed.py", False, "--rate", "--rate-orders", str(60 if quick else 150))
            results["push_rate_vs_set"] = row["push_rate_vs_set"]
            results["push_rate_detail"] = row
            print(f"  push_rate_vs_set: {row['push_rate_vs_set']}  {verdict(row['push_rate_vs_set'], 0.95)}")

        guarded(results, "push_rate_vs_set", push_rate)

    # --- extraction vs history --------------------------------------------------------------------
    if "extract" not in args.skip:
        section("extraction: 1,000 new paid orders among 10,000 vs 1,000,000 historical (PostgreSQL)")

        def extract() -> None:
            import extract_scaling

            histories = [10_000, 100_000] if quick else [10_000, 1_000_000]
            r = extract_scaling.measure(histories)
            key = "extract_ratio_1m_vs_10k" if not quick else "extract_ratio_100k_vs_10k"
            results[key] = r["extract_ratio"]
            results["extract_detail"] = r
            print(f"  {key}  {r['extract_ratio']:.2f}  {verdict(r['extract_ratio'], 1.5, at_most=True)}")

        guarded(results, "extract_ratio_1m_vs_10k", extract)

    # --- backfill memory --------------------------------------------------------------------------
    if "backfill" not in args.skip:
        section("backfill memory: push_orders over the whole window, dry run, chunk 2,000")

        def backfill() -> None:
            import order_push_memory

            paid = 20_000 if quick else 200_000
            r = order_push_memory.measure(paid, "dry-run", 2000)
            key = "backfill_200k_peak_rss_mb" if not quick else "backfill_20k_peak_rss_mb"
            results[key] = round(r["peak_rss_mb"])
            results["backfill_detail"] = {**r, "load": load()}
            results["notes"].append("backfill: a dry run (extract, transform, validate, XML; nothing sent) over a "
                                    f"SQLite shop with {r['paid']:,} paid orders, in a fresh process")
            print(f"  {key}  {r['peak_rss_mb']:.0f} MB ({r['extracted']:,} orders in {r['seconds']:.0f}s; "
                  f"interpreter and imports alone {r['rss_before_mb']:.0f} MB)  "
                  f"{verdict(r['peak_rss_mb'], 500, at_most=True)}")

        guarded(results, "backfill_200k_peak_rss_mb", backfill)

    # --- inventory, confirmations: scripts of their own, each printing a JSON line last ------------
    if "inventory" not in args.skip:
        section("inventory: 100,000 SKUs, and the write-back's share")

        def inventory() -> None:
            figures = script_figures("inventory_sync.py", quick)
            results["inventory_100k_skus_s"] = figures["inventory_100k_skus_s"]
            results["inventory_writeback_share"] = figures["inventory_writeback_share"]
            results["inventory_detail"] = figures["rows"]
            for backend, seconds in figures["inventory_100k_skus_s"].items():
                print(f"  inventory_100k_skus_s {backend:10} {seconds:6.1f} s for {figures['skus']:,} SKUs, "
                      f"write-back {figures['inventory_writeback_share'][backend]:.0%} of it")

        guarded(results, "inventory_100k_skus_s", inventory)

    if "confirmations" not in args.skip:
        section("confirmations: callbacks stored under concurrent load, and applied")

        def confirmations() -> None:
            figures = script_figures("confirmations.py", quick)
            for key in ("confirmations_per_s", "confirmations_stored_per_s", "confirmations_applied_per_s",
                        "confirmations_stored_vs_http_floor"):
                results[key] = figures.get(key)
            results["confirmations_detail"] = figures["rows"]
            for backend, rate in figures["confirmations_per_s"].items():
                floor = figures["confirmations_stored_vs_http_floor"][backend]
                print(f"  confirmations_per_s {backend:10} stored {rate['stored']:>6,.0f}/s "
                      f"({floor:.2f} of the receiver's HTTP floor), applied {rate['applied']:>6,.0f}/s")
            for backend, applied in figures["confirmations_applied_per_s"].items():
                print(f"  confirmations_applied_per_s {backend:10} {applied:>6,.0f}/s  {verdict(applied, 1000)}")

        guarded(results, "confirmations_per_s", confirmations)

    if "shared_rate" not in args.skip:
        section("shared rate: two worker machines, one warehouse account, WMS_RATE_LIMIT_URL on Redis")

        def shared_rate() -> None:
            figures = script_figures("shared_rate.py", quick)
            rate = figures["set_rate"]
            for key in ("shared_rate_two_workers", "shared_rate_max_per_1s_window", "file_only_rate_two_workers"):
                results[key] = figures[key]
            results["shared_rate_detail"] = figures["rows"]
            print(f"  shared_rate_two_workers        {figures['shared_rate_two_workers']:.3f}  "
                  f"{verdict(figures['shared_rate_two_workers'], 0.95)}")
            print(f"  shared_rate_max_per_1s_window  {figures['shared_rate_max_per_1s_window']}  "
                  f"{verdict(figures['shared_rate_max_per_1s_window'], rate, at_most=True)}")
            print(f"  the file limiter alone         {figures['file_only_rate_two_workers']:.3f} x the set rate "
                  f"(each machine its own limit)")

        guarded(results, "shared_rate_two_workers", shared_rate)

    # --- address splitting (kept from the earlier make bench) ------------------------------------------
    if "address" not in args.skip:
        section("address splitting accuracy (tests/shop/fixtures/addresses.csv)")

        def address() -> None:
            sys.path.insert(0, str(ROOT / "tests" / "shop"))
            from address_accuracy import score

            accuracy, cases, misses = score()
            results["address_split_accuracy"] = round(accuracy, 4)
            print(f"  address_split_accuracy  {accuracy:.1%} of {cases} addresses ({len(misses)} refused or missed)")

        guarded(results, "address_split_accuracy", address)

    # --- DAG parsing ------------------------------------------------------------------------------
    if "dags" not in args.skip:
        section("DAG parsing: the whole dags/ folder in a fresh interpreter")

        def dags() -> None:
            done = subprocess.run([sys.executable, str(ROOT / "tests" / "dags" / "parse_dags.py"), str(ROOT / "dags")],
                                  stdout=subprocess.PIPE, text=True, check=True, cwd=ROOT)
            report = json.loads(done.stdout.strip().splitlines()[-1])
            results["dag_parse_s"] = round(report["parse_s"], 3)
            results["dag_detail"] = {"dags": sorted(report["dags"]), "airflow_import_s": round(report["airflow_import_s"], 2),
                                     "import_errors": report["import_errors"], "load": load()}
            print(f"  dag_parse_s  {report['parse_s']:.2f}s for {len(report['dags'])} DAGs "
                  f"(DagBag, after importing Airflow: {report['airflow_import_s']:.1f}s; import errors: "
                  f"{len(report['import_errors'])})")

        guarded(results, "dag_parse_s", dags)

    results["machine"]["load_at_end"] = load()
    results["seconds"] = round(time.monotonic() - started)
    Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nall figures in {args.out} ({results['seconds']}s; {load()})")


if __name__ == "__main__":
    main()
