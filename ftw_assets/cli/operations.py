"""Operating a dataset: ``status``, ``qa-report``, ``release``, ``doctor`` and ``ui``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ftw_assets.cli import options as opt
from ftw_assets.cli.output import print_status, print_summary
from ftw_assets.core.reports.qa_settings import QaSettings


def _layout(output_dir: Path):
    from ftw_assets.core.dataset.layout import Layout
    from ftw_assets.core.dataset.settings import DatasetSettings

    return Layout(output_dir, DatasetSettings.load(output_dir).name)


@opt.command("status")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def status(output_dir) -> None:
    """Per chip-year asset the dataset is configured for: materialized, failed, in-progress and missing
    partitions, and the last errors, read from the dataset's Dagster instance."""
    # Only Dagster and the storage: not the asset graph or the raster stack (see ftw_assets.status).
    from ftw_assets.core.dataset.stages import Stages
    from ftw_assets.instance import last_errors, open_instance
    from ftw_assets.status import partition_status

    output_dir = opt.dataset_dir(output_dir, write=False)
    assets = Stages.of(output_dir).asset_names()  # reads dataset.json: refused before the instance is made
    instance = open_instance(output_dir, read_only=True)
    print_status(partition_status(instance, assets), last_errors(instance))


@opt.command("qa-report")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@opt.option(QaSettings, "max_failure_share")
def qa_report_command(output_dir, max_failure_share) -> None:
    """Write NAME-chips/qa_report.html (self-contained) and link it from the collection. The option is
    kept in OUTPUT_DIR/qa.json, so the qa_report asset in the Dagster UI uses it too."""
    from ftw_assets import pipeline
    from ftw_assets.core.reports.qa import failure_rate_of
    from ftw_assets.defs import qa_report

    output_dir = opt.dataset_dir(output_dir)
    qa = QaSettings(max_failure_share=max_failure_share)  # checked before anything runs
    qa.save(output_dir)
    summary = pipeline.materialize_dataset(output_dir, after=[qa_report.key], echo=click.echo)
    layout = _layout(output_dir)
    if summary.interrupted or summary.failed:
        print_summary(summary, layout)
        sys.exit(130 if summary.interrupted else 1)  # 130: stopped by Ctrl-C (SIGINT), as a shell reports it
    rate = failure_rate_of(layout)
    if rate.above(qa.max_failure_share):
        click.secho(f"Alert: {rate.failed + rate.skipped} of {rate.total} chip-years ({100 * rate.share:.1f} %) "
                    f"failed or were skipped, more than --max-failure-share {qa.max_failure_share:g}", fg="red")
    click.echo(f"QA report: {layout.catalog_dir / 'qa_report.html'}")


@opt.command("release")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--version", "version", required=True, help="Release version, e.g. 1.0.0.")
def release_command(output_dir, version) -> None:
    """Archive the catalog folder as OUTPUT_DIR/releases/NAME-chips-VERSION.tar.gz with a sha256
    manifest (counts and parameters included); the same dataset gives the same manifest and bytes."""
    from ftw_assets.core.reports.release import release

    archive, manifest = release(_layout(opt.dataset_dir(output_dir)), version)
    counts = json.loads(manifest.read_text())["counts"]
    click.echo(f"{archive} ({archive.stat().st_size:,} bytes); manifest {manifest}; {counts}")


@opt.command("doctor")
@opt.stac_host
@opt.option(opt.SELECTION, "collection")
@opt.option(opt.SELECTION, "crop_calendar_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A dataset folder whose Dagster home to check.")
def doctor(stac_host, collection, crop_calendar_dir, output_dir) -> None:
    """Check GDAL and PROJ, the cache folder, the crop calendar, the Dagster home, the STAC host and disk
    space; say what to fix. Exit 1 when a check fails."""
    from ftw_assets.core.reports.doctor import FAIL, run_checks

    checks = run_checks(opt.stac_host_value(stac_host), collection,
                        str(crop_calendar_dir) if crop_calendar_dir else None, output_dir)
    for c in checks:
        click.secho(f"{c.state:5} {c.name:14} {c.detail}", fg={"ok": None, "warn": "yellow"}.get(c.state, "red"))
    if any(c.state == FAIL for c in checks):
        sys.exit(1)


@opt.command("ui")
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; keep 127.0.0.1 unless you mean to share it.")
@click.option("--port", default=3000, show_default=True)
def ui(output_dir, host, port) -> None:
    """Start the Dagster UI (and daemon) over OUTPUT_DIR's dataset and instance."""
    from ftw_assets.instance import open_instance

    output_dir = Path(output_dir).resolve()
    layout = _layout(output_dir)  # no dataset.json: says how to make one
    open_instance(layout).dispose()
    env = {**os.environ, "FTW_OUTPUT_DIR": str(output_dir), "DAGSTER_HOME": str(layout.dagster_home)}
    args = ["dagster", "dev", "-m", "ftw_assets", "-h", host, "-p", str(port)]
    dagster = Path(sys.executable).with_name("dagster")
    os.execvpe(str(dagster) if dagster.exists() else "dagster", args, env)


@opt.command("browse")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; keep 127.0.0.1 unless you mean to share it.")
@click.option("--port", default=8070, show_default=True)
@click.option("--basemap", default=None, metavar="XYZ_URL",
              help="Tile URL template for the map, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png "
                   "(default: none, works offline).")
def browse(output_dir, host, port, basemap) -> None:
    """Browse OUTPUT_DIR's STAC catalog in Radiant Earth's STAC Browser: items, thumbnails, masks and
    clipped images on a map, served with the catalog on one local address (built once by `make install`)."""
    from ftw_assets.core.stac.browser import serve

    serve(_layout(opt.dataset_dir(output_dir, write=False)).catalog_dir, host=host, port=port, basemap=basemap)


COMMANDS = [status, qa_report_command, release_command, doctor, ui, browse]
