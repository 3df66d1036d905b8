"""Scenes: ``select-images`` (each chip-year's planting and harvest scenes), ``search-scenes`` (a scene
source as ftwd sees it) and ``make-archive`` (the generated local Sentinel-2 archive)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from ftw_assets.cli import options as opt
from ftw_assets.cli.output import print_selection_report, print_summary
from ftw_assets.cli.progress import run_progress


@opt.command("select-images")
@click.argument("catalog", type=click.Path(exists=True, file_okay=False, path_type=Path))
@opt.option(opt.SELECTION, "stac_host", default=None, show_default=False,
            help=opt.STAC_HOST_HELP._replace(template="Scene source (default: the dataset's): {}."))
@opt.option(opt.SELECTION, "collection")
@opt.chips_per_run
@opt.selection_options
@click.option("--resume", is_flag=True,
              help="Only chip-years without a selection (the default unless the options changed).")
def select_images(catalog, stac_host, collection, chips_per_run, processes, resume, **options) -> None:
    """Pick each chip-year's planting and harvest Sentinel-2 scenes by crop calendar, as STAC child items.

    CATALOG is a dataset folder made by create-dataset (or its NAME-chips catalog folder). Prints and
    writes the report (CATALOG/NAME-chips/selection_report.json)."""
    from ftw_assets.core.dataset.layout import Layout
    from ftw_assets.core.dataset.settings import DatasetSettings
    from ftw_assets.core.scenes.sources import resolve_stac_host

    output_dir = opt.dataset_dir(catalog)
    settings = DatasetSettings.load(output_dir)
    # 'local' (given, or stored by an older dataset.json) is recorded as the archive's path, so the
    # selection does not depend on where later runs start; generating the archive is announced.
    selection = opt.selection_settings(options, resolve_stac_host(stac_host or settings.stac_host, click.echo),
                                       collection or (None if stac_host else settings.collection))
    redo = opt.store_selection(output_dir, selection)
    if redo and resume:
        click.echo("--resume: keeping earlier choices would mix options; re-selecting all anyway")
    from ftw_assets import pipeline
    from ftw_assets.core.dataset.stages import SELECT

    summary = pipeline.materialize_dataset(output_dir, redo=[SELECT] * redo, chips_per_run=chips_per_run,
                                           processes=processes, echo=click.echo, progress=run_progress())
    layout = Layout(output_dir, settings.name)
    print_summary(summary, layout)
    print_selection_report(layout)
    if summary.interrupted or summary.failed:  # 130: stopped by Ctrl-C (SIGINT), as a shell reports it
        sys.exit(130 if summary.interrupted else 1)


@opt.command("search-scenes")
@opt.stac_host
@opt.option(opt.SELECTION, "collection")
@click.option("--bbox", required=True, help="west,south,east,north in WGS84 degrees.")
@click.option("--datetime", "interval", required=True, help="start/end dates, e.g. 2024-03-01/2024-04-30 (inclusive).")
@click.option("--max-cloud", type=float, default=None, help="Keep scenes with eo:cloud_cover at most this.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON record per scene.")
def search_scenes(stac_host, collection, bbox, interval, max_cloud, as_json) -> None:
    """Search a scene source and print the normalised scenes (cloud, nodata, baseline, offset decided)."""
    from datetime import datetime, timedelta, timezone

    from ftw_assets.core.errors import InputError
    from ftw_assets.core.scenes.sources import SceneQuery, open_source

    try:
        box = tuple(float(v) for v in bbox.split(","))
        start_s, end_s = interval.split("/")
        start = datetime.fromisoformat(start_s).replace(tzinfo=timezone.utc)
        end = datetime.fromisoformat(end_s).replace(tzinfo=timezone.utc)
        if len(end_s) == 10:
            end += timedelta(days=1) - timedelta(seconds=1)
        assert len(box) == 4
    except (ValueError, AssertionError):
        raise InputError(f"--bbox {bbox!r} / --datetime {interval!r}: use w,s,e,n and YYYY-MM-DD/YYYY-MM-DD") from None
    source = open_source(opt.stac_host_value(stac_host), collection,
                         announce=lambda message: click.echo(message, err=True))  # stdout stays the scene list
    result = source.search(SceneQuery(start, end, bbox=box, max_cloud_cover=max_cloud))
    for scene in result.scenes:
        if as_json:
            record = scene.record()
            record.pop("footprint_wkt")
            click.echo(json.dumps(record))
        else:
            click.echo(f"{scene.id}  {scene.datetime:%Y-%m-%d}  {scene.mgrs_tile}  cloud {scene.cloud_cover:6.2f} %  "
                       f"nodata {scene.nodata_percentage or 0:6.2f} %  baseline {scene.processing_baseline}  "
                       f"offset {scene.boa_offset}")
    for item_id, reason in result.rejected:
        click.secho(f"skipped {item_id}: {reason}", fg="yellow", err=True)
    click.echo(f"{len(result.scenes)} scene(s) from {source.describe()} in {result.requests} request(s), "
               f"{result.retries} retr{'y' if result.retries == 1 else 'ies'}", err=True)


@opt.command("make-archive")
@click.argument("archive_dir", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--blocks", default="7,6,2,2", show_default=True,
              help="Which 1024 px blocks of tile 33UWP: first column, first row, columns, rows (2,2 = 20 km square).")
@click.option("--years", default="2021,2024", show_default=True, help="Comma-separated years to generate.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--sensors", default="s2", show_default=True,
              help="Sensors to generate, comma-separated: s2 (always) and any of s1 (sentinel-1-rtc), landsat "
                   "(landsat-c2-l2), dem (cop-dem-glo-30), landcover (esa-worldcover); each other sensor is written "
                   "as ARCHIVE_DIR/{collection}.parquet beside the Sentinel-2 one.")
def make_archive(archive_dir, blocks, years, seed, sensors) -> None:
    """Generate the local Sentinel-2 archive (COGs + stac-geoparquet) used by the demo, tests and bench.

    ARCHIVE_DIR defaults to the folder `--stac-host local` uses ($FTW_ARCHIVE_DIR, else
    ~/.cache/ftw-tools/archive; $FTW_CACHE_DIR moves the cache). Reused when ARCHIVE_DIR/archive.json
    matches the options."""
    from ftw_assets.core.scenes.sources import local_archive_dir
    from dataclasses import replace

    from ftw_assets.core.dataset.settings import check_sensors
    from ftw_assets.demo.archive import ArchiveSpec, ensure_archive
    from ftw_assets.demo.sensors import archive_collections

    collections = archive_collections(check_sensors(sensors.split(",")) or ("s2",))
    try:
        col, row, cols, rows = (int(v) for v in blocks.split(","))
        spec = ArchiveSpec(col, row, cols, rows, tuple(int(y) for y in years.split(",")), seed, sensors=collections)
    except ValueError:
        raise click.BadParameter("use four integers like 7,6,2,2 and years like 2021,2024") from None
    started = time.monotonic()
    parquet = ensure_archive(archive_dir or local_archive_dir(), spec, announce=click.echo)
    local = archive_dir is None and replace(spec, sensors=ArchiveSpec().sensors) == ArchiveSpec()
    click.echo(f"{parquet} ({time.monotonic() - started:.1f} s); use it with --stac-host "
               f"{'local' if local else parquet}")


COMMANDS = [select_images, search_scenes, make_archive]
