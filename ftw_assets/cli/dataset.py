"""Make a dataset: ``create-dataset``, ``demo`` (the same on the generated demo world) and ``add-year``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ftw_assets.cli import options as opt
from ftw_assets.cli.output import (print_download_report, print_refinement_report, print_selection_report,
                                   print_sensor_report, print_summary)
from ftw_assets.cli.progress import run_progress
from ftw_assets.core.errors import InputError

GRID = "ftw_assets.core.geometry.grid"


@opt.command("create-dataset")
@click.argument("fields", type=click.Path(path_type=Path))
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@opt.option(opt.DATASET, "name")
@opt.option(opt.DATASET, "layer")
@opt.option(opt.DATASET, "year")
@opt.option(opt.DATASET, "min_coverage")
@opt.option(opt.DATASET, "split_type", choices=opt.Lazy(GRID, "SPLIT_TYPES"))
@opt.option(opt.DATASET, "split_percents")
@opt.option(opt.DATASET, "mask_types")
@opt.option(opt.DATASET, "presence_only")
@opt.option(opt.DATASET, "chip_size_px")
@opt.option(opt.DATASET, "cell_km", choices=opt.Lazy(GRID, "CELL_SIZES_KM"))
@opt.option(opt.DATASET, "seed")
@opt.chips_per_run
@opt.stac_host
@opt.collection
@opt.option(opt.DATASET, "base_url", metavar="URL")
@opt.option(opt.DATASET, "sensors")
@opt.option(opt.DATASET, "min_class_share")
@opt.option(opt.DATASET, "excluded_classes")
@click.option("--inventory", is_flag=True,
              help="Also search the scene source once per MGRS tile and year (DuckDB table scene_inventory).")
@click.option("--select-images", is_flag=True,
              help="After the masks, pick the planting and harvest scenes of every chip-year (see select-images).")
@click.option("--download-images", is_flag=True,
              help="Also write the clipped planting and harvest images (implies --select-images; see download-images).")
@opt.image_options(prefix="With --download-images: ")
@opt.refine_cloud
@opt.selection_options
def create_dataset(fields, output_dir, chips_per_run, processes, inventory, select_images, download_images,
                   refine_cloud, **options) -> None:
    """Chip grid, masks and STAC catalog for FIELDS (any vector file with field polygons) in OUTPUT_DIR;
    with --select-images also the planting and harvest scenes, with --download-images also their images,
    checked for cloud on each chip's own pixels and selected again where cloudy or blank (cloud
    refinement, on by default with --download-images; --no-refine-cloud turns it off).

    Re-running the same command does only what is missing, read from the Dagster instance in
    OUTPUT_DIR/dagster_home.
    """
    from ftw_assets.core.dataset.layout import Layout
    from ftw_assets.core.dataset.preflight import plan_dataset
    from ftw_assets.core.dataset.settings import DatasetSettings
    from ftw_assets.core.scenes.sources import open_source

    settings = opt.settings_from(DatasetSettings, options, fields=str(Path(fields).resolve()),
                                 stac_host=opt.stac_host_value(options["stac_host"]))
    if inventory:
        open_source(settings.stac_host, settings.collection)  # a bad --stac-host fails before anything is written
    selection, images = None, None
    if download_images:
        from ftw_assets.core.raster.clip import ImageSettings

        images = opt.settings_from(ImageSettings, options)
        select_images = True
    refine = download_images if refine_cloud is None else refine_cloud
    if refine and not select_images:
        raise InputError("--refine-cloud measures cloud in the selected scenes: add --select-images or "
                         "--download-images, or leave --refine-cloud out.")
    if select_images:
        selection = opt.selection_settings(options, options["stac_host"], options["collection"])
    if settings.extra_sensors():
        from ftw_assets.core.sensors.search import open_sensor_source

        if not download_images:
            raise InputError(f"--sensors {','.join(settings.sensors)} adds those sensors' images to each chip: add "
                             "--download-images, or leave --sensors out.")
        for sensor in settings.extra_sensors():  # a sensor the source lacks fails before anything is written
            open_sensor_source(settings.stac_host, sensor)
    # Fail before anything is written when the input cannot work.
    output_dir = Path(output_dir).resolve()
    plan = plan_dataset(settings, output_dir)
    click.echo(f"{plan.report.fields} fields from {fields} (CRS {plan.report.source_crs}), year {plan.year}: "
               f"{len(plan.chips)} chips of {settings.cell_km} km")
    for warning in plan.report.warnings():
        click.echo(f"  note: {warning}")

    output_dir.mkdir(parents=True, exist_ok=True)
    settings.save(output_dir)
    redo = opt.store_selection(output_dir, selection) if selection else False
    redo_images = opt.store_images(output_dir, images) if images else False
    redo_refine = opt.store_refinement(output_dir, refine) if refine_cloud is not None or refine else False
    from ftw_assets import pipeline
    from ftw_assets.core.dataset.stages import DOWNLOAD, REFINE, SELECT
    from ftw_assets.defs import scene_inventory

    summary = pipeline.materialize_dataset(
        output_dir, redo=[SELECT] * redo + [DOWNLOAD] * redo_images + [REFINE] * redo_refine,
        after=[scene_inventory.key] * inventory, chips_per_run=chips_per_run, processes=processes, echo=click.echo,
        progress=run_progress())
    layout = Layout(output_dir, settings.name)
    print_summary(summary, layout)
    if selection:
        print_selection_report(layout)
    if images:
        print_download_report(layout)
        print_sensor_report(layout)
    if refine:
        print_refinement_report(layout, reselected_only=True)
    if summary.interrupted or summary.failed:  # 130: stopped by Ctrl-C (SIGINT), as a shell reports it
        sys.exit(130 if summary.interrupted else 1)


def _demo_calendar_dir(fallback: Path) -> Path | None:
    """The cached crop calendar when present (None = use it), else the demo's excerpt of it."""
    from ftw_assets.core.scenes.calendar import CalendarError, calendar_files
    from ftw_assets.demo.world import write_demo_calendar

    try:
        calendar_files(None, "summer", download=False)
        return None
    except CalendarError:
        if not (fallback / "sc-sos-3x3-v2-cog.tiff").exists():
            write_demo_calendar(fallback)
        click.echo(f"no crop calendar in the cache: using the demo's excerpt of it in {fallback}")
        return fallback


@opt.command("demo")
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data/demo"))
@click.option("--fields", "fields_path", type=click.Path(path_type=Path), default=Path("data/demo_fields.gpkg"),
              show_default=True, help="Where the generated demo field file is kept (made once).")
@click.option("--archive", "archive_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the generated local Sentinel-2 archive is kept (made once). Default: the one folder "
                   "`--stac-host local` uses ($FTW_ARCHIVE_DIR, else ~/.cache/ftw-tools/archive).")
@click.option("--sensors", default=None,
              help="Sensors of the demo: s2 (always) and any of s1, landsat, dem, landcover, comma-separated; the "
                   "archive gets their generated scenes too. Default: s2.")
@click.pass_context
def demo(ctx, output_dir, fields_path, archive_dir, sensors) -> None:
    """Build the demo dataset from the embedded demo world (generated once, no network): demo fields,
    a local Sentinel-2 archive searched as stac-geoparquet, chips, masks, catalog and scene inventory;
    with --sensors also the other sensors' generated scenes and their images of every chip."""
    from dataclasses import replace

    from ftw_assets.core.dataset.settings import check_sensors
    from ftw_assets.core.scenes.sources import local_archive_dir
    from ftw_assets.demo.archive import ArchiveSpec, ensure_archive
    from ftw_assets.demo.sensors import archive_collections
    from ftw_assets.demo.world import DEMO_YEAR, write_demo_fields

    archive_dir = Path(archive_dir or local_archive_dir())
    names = check_sensors(sensors.split(",")) if sensors is not None else None
    spec = replace(ArchiveSpec(), sensors=archive_collections(names or ("s2",)))

    if not Path(fields_path).exists():
        write_demo_fields(fields_path)
        click.echo(f"generated demo fields: {fields_path}")
    started = time.monotonic()
    parquet = ensure_archive(archive_dir, spec, announce=click.echo)
    click.echo(f"local Sentinel-2 archive: {parquet} ({time.monotonic() - started:.1f} s)")
    calendar_dir = _demo_calendar_dir(Path(fields_path).parent / "demo_calendar")
    ctx.invoke(create_dataset, fields=fields_path, output_dir=output_dir, name="demo", year=DEMO_YEAR,
               stac_host=str(parquet), inventory=True, download_images=True, crop_calendar_dir=calendar_dir,
               sensors=",".join(names) if names else None)


@opt.command("add-year")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("year", type=int)
@opt.chips_per_run
def add_year(output_dir, year, chips_per_run, processes) -> None:
    """Add YEAR to every chip of the dataset and build what the dataset is configured for (masks and
    catalog; scenes, images and cloud refinement with re-selection when their options files exist) for
    the new chip-years."""
    from ftw_assets import pipeline
    from ftw_assets.core.dataset.layout import Layout
    from ftw_assets.core.dataset.settings import DatasetSettings
    from ftw_assets.core.geometry.fields import resolve_year
    from ftw_assets.partitions import YEARS
    from ftw_assets.instance import open_instance

    output_dir = opt.dataset_dir(output_dir)
    settings = DatasetSettings.load(output_dir)
    year = resolve_year(None, year, f"year {year}")  # the same bounds as --year
    layout = Layout(output_dir, settings.name)
    instance = open_instance(layout)
    if str(year) not in instance.get_dynamic_partitions(YEARS):
        instance.add_dynamic_partitions(YEARS, [str(year)])
        click.echo(f"added {year}: every chip now has a {year} partition")
    summary = pipeline.materialize_dataset(output_dir, chips_per_run=chips_per_run, processes=processes,
                                           echo=click.echo, progress=run_progress())
    print_summary(summary, layout)
    if summary.interrupted or summary.failed:  # 130: stopped by Ctrl-C (SIGINT), as a shell reports it
        sys.exit(130 if summary.interrupted else 1)


COMMANDS = [create_dataset, demo, add_year]
