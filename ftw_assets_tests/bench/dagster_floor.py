"""Dagster's own cost per chip-year: an empty graph of six chained chip x year assets.

The bodies do nothing but (optionally) record one small metadata entry per partition; one
in-process run covers a range of N chip-years. Each configuration runs in its own process:

- ``dagster``: Dagster's default SQLite storage and ``context.add_asset_metadata`` per partition
  (how this project ran before);
- ``ftw``: the dataset instance as ftw_assets writes it (``ftw_assets.storage``: connections kept,
  a step's materializations written together, dynamic partitions cached) and
  ``batch.add_partition_metadata``.

    python -m ftw_assets_tests.bench.dagster_floor          # the table
    python -m ftw_assets_tests.bench.dagster_floor one MODE N METADATA   # one measurement, as JSON
"""


import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg

warnings.filterwarnings("ignore")
MODES = ("dagster", "ftw")


def measure(mode: str, n: int, metadata: bool) -> dict:
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from ftw_assets.batch import add_partition_metadata
    from ftw_assets.partitions import CHIPS, YEARS, chip_year_backfill, chip_year_partitions
    from ftw_assets.instance import DAGSTER_YAML, instance_yaml
    from ftw_assets.runner import QUIET

    def body(context: dg.AssetExecutionContext) -> None:
        if not metadata:
            return
        meta = {k: {"chip": k, "nodata_share": 0.0} for k in context.partition_keys}
        if mode == "ftw":
            add_partition_metadata(context, meta)
        else:
            for k, m in meta.items():
                context.add_asset_metadata(m, partition_key=k)

    assets, prev = [], None
    for i in range(6):
        assets.append(dg.asset(name=f"asset_{i}", partitions_def=chip_year_partitions, deps=[prev] if prev else [],
                               backfill_policy=chip_year_backfill)(body))
        prev = assets[-1]
    home = Path(tempfile.mkdtemp(prefix="ftw-floor-"))
    (home / "dagster.yaml").write_text(instance_yaml(home) if mode == "ftw" else DAGSTER_YAML)
    if mode == "ftw":
        from ftw_assets.storage import enable_event_batches

        enable_event_batches()
    instance = dg.DagsterInstance.from_config(str(home))
    chips = [f"ftw-33UWP{i:04d}" for i in range(n)]
    instance.add_dynamic_partitions(CHIPS, chips)
    instance.add_dynamic_partitions(YEARS, ["2024"])
    job = dg.Definitions(assets=assets).resolve_implicit_global_asset_job_def()
    start = time.perf_counter()
    result = job.execute_in_process(instance=instance, run_config=QUIET, tags={
        ASSET_PARTITION_RANGE_START_TAG: f"{chips[0]}|2024", ASSET_PARTITION_RANGE_END_TAG: f"{chips[-1]}|2024"})
    seconds = time.perf_counter() - start
    done = len(instance.get_materialized_partitions(assets[-1].key))
    instance.dispose()
    size = sum(f.stat().st_size for f in (home / "history").rglob("*") if f.is_file())
    assert result.success and done == n, (result.success, done)
    return {"mode": mode, "chip_years": n, "metadata": metadata, "ms_per_chip_year": 1000 * seconds / n,
            "event_db_kb_per_chip_year_asset": size / n / 6 / 1024}


def run_all(sizes=(100, 400)) -> list[dict]:
    rows = []
    for metadata in (False, True):
        for n in sizes:
            for mode in MODES:
                out = subprocess.run([sys.executable, "-m", "ftw_assets_tests.bench.dagster_floor", "one", mode, str(n), str(int(metadata))],
                                     capture_output=True, text=True, check=True, env={**os.environ})
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| metadata per partition | chip-years in the run | Dagster default (ms / chip-year) | ftw_assets instance "
             "(ms / chip-year) | ratio | event db KB / chip-year / asset (default, ftw) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for metadata in (False, True):
        for n in sorted({r["chip_years"] for r in rows}):
            d, f = ({r["mode"]: r for r in rows if r["metadata"] == metadata and r["chip_years"] == n}[m]
                    for m in MODES)
            lines.append(f"| {'one entry' if metadata else 'none'} | {n} | {d['ms_per_chip_year']:.1f} | "
                         f"{f['ms_per_chip_year']:.1f} | {d['ms_per_chip_year'] / f['ms_per_chip_year']:.1f}x | "
                         f"{d['event_db_kb_per_chip_year_asset']:.1f}, {f['event_db_kb_per_chip_year_asset']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["one"]:
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")))
    else:
        print("Dagster's cost per chip-year, empty six-asset graph, one in-process run:")
        print(table(run_all()))
