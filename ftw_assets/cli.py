"""``ftwd``: the dataset commands FTW users know, run through the Dagster asset graph.

Every command works on one output folder that holds the dataset, its parameters
(``dataset.json``) and its Dagster instance (``dagster_home/``), so what the CLI does shows
in the Dagster UI (``ftwd ui OUTPUT_DIR``) and a rerun does only what is missing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.errors import FtwError
from ftw_assets.core.geometry.grid import CELL_SIZES_KM, SPLIT_TYPES
from ftw_assets.core.raster.masks import MASK_TYPES
from ftw_assets.core.scenes.sources import STAC_HOST_HELP, open_source


class FtwdGroup(click.Group):
    """Turns the project's own errors into a one-paragraph message and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FtwError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=FtwdGroup)
def main() -> None:
    """Build Fields of The World training datasets with Dagster."""


def selection_options(func):
    """The select-images options, shared by ``create-dataset --select-images`` and ``select-images``."""
    options = [
        click.option("--buffer-days", type=int, default=14, show_default=True,
                     help="Search scenes within this many days of the planting and harvest dates."),
        click.option("--cloud-cover-scene", type=float, default=10.0, show_default=True,
                     help="Keep scenes whose scene-level eo:cloud_cover is at most this percent."),
        click.option("--pixel-check", is_flag=True,
                     help="Measure cloud (SCL 3/8/9/10 and cloud probability) on each chip's own pixels."),
        click.option("--cloud-cover-pixel", type=float, default=0.0, show_default=True,
                     help="With --pixel-check: the most chip-level cloud percent accepted."),
        click.option("--on-missing", type=click.Choice(["skip", "fail", "best-available"]), default="skip",
                     show_default=True, help="No scene found: skip the season, fail the chip, or relax thresholds."),
        click.option("--include-alternatives", is_flag=True, help="Record the ranked runners-up in each child item."),
        click.option("--crop-calendar-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Folder with the crop calendar COGs (default: the cache, downloaded on first use)."),
        click.option("--calendar", type=click.Choice(["summer", "winter"]), default="summer", show_default=True,
                     help="Crop calendar: summer (sc-*) or winter (wc-*) crops."),
        click.option("--resume", is_flag=True,
                     help="Only chip-years without a selection (the default unless the options changed)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _selection_settings(stac_host, collection, buffer_days, cloud_cover_scene, pixel_check, cloud_cover_pixel,
                        on_missing, include_alternatives, crop_calendar_dir, calendar):
    from ftw_assets.core.scenes.calendar import calendar_files
    from ftw_assets.core.scenes.selection import SelectionSettings

    selection = SelectionSettings(
        stac_host=_stac_host(stac_host), collection=collection, buffer_days=buffer_days,
        cloud_cover_scene=cloud_cover_scene, pixel_check=pixel_check, cloud_cover_pixel=cloud_cover_pixel,
        on_missing=on_missing, include_alternatives=include_alternatives,
        crop_calendar_dir=str(Path(crop_calendar_dir).resolve()) if crop_calendar_dir else None, calendar=calendar,
    ).check()
    open_source(selection.stac_host, selection.collection)  # a bad --stac-host fails before anything is written
    calendar_files(selection.crop_calendar_dir, selection.calendar)  # so does a missing crop calendar
    return selection


@main.command("create-dataset")
@click.argument("fields", type=click.Path(path_type=Path))
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="ftw", show_default=True, help="Dataset name; the catalog folder is NAME-chips.")
@click.option("--year", type=int, default=None,
              help="Season year. Default: the most common year of the fields' determination_datetime.")
@click.option("--min-coverage", type=float, default=0.01, show_default=True,
              help="Keep cells whose area is at least this percent covered by fields.")
@click.option("--split-type", type=click.Choice(SPLIT_TYPES), default="random-uniform", show_default=True,
              help="random-uniform per chip, block3x3 per 3x3 block of cells, or predefined from the fields' split column.")
@click.option("--split-percents", default="80,10,10", show_default=True, help="train,val,test percentages.")
@click.option("--mask-types", default=",".join(MASK_TYPES), show_default=True, help="Comma-separated masks to write.")
@click.option("--presence-only", is_flag=True, help="Labels mark present fields only: background becomes 3 (unknown).")
@click.option("--chip-size-px", type=int, default=None,
              help="Pad each chip to this many 10 m pixels around the cell centre (default: the cell, 200 px for 2 km).")
@click.option("--cell-km", type=click.Choice([str(c) for c in CELL_SIZES_KM]), default="2", show_default=True,
              help="Grid cell size in km.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed for the random splits.")
@click.option("--chips-per-run", type=int, default=None, help="Chip-years per Dagster run (default 100).")
@click.option("--stac-host", default="earthsearch", show_default=True, help=f"Scene source: {STAC_HOST_HELP}.")
@click.option("--collection", default=None,
              help="STAC collection (default sentinel-2-c1-l2a on EarthSearch, sentinel-2-l2a on Planetary Computer).")
@click.option("--inventory", is_flag=True,
              help="Also search the scene source once per MGRS tile and year (DuckDB table scene_inventory).")
@click.option("--select-images", is_flag=True,
              help="After the masks, pick the planting and harvest scenes of every chip-year (see select-images).")
@click.option("--download-images", is_flag=True,
              help="Also write the clipped planting and harvest images (implies --select-images; see download-images).")
@click.option("--bands", default="red,green,blue,nir", show_default=True,
              help="With --download-images: bands of the clipped images.")
@click.option("--num-workers", type=int, default=4, show_default=True,
              help="With --download-images: threads reading scene bands at the same time.")
@selection_options
def create_dataset(fields, output_dir, name, year, min_coverage, split_type, split_percents, mask_types,
                   presence_only, chip_size_px, cell_km, seed, chips_per_run, stac_host, collection, inventory,
                   select_images, download_images, bands, num_workers, buffer_days, cloud_cover_scene, pixel_check,
                   cloud_cover_pixel, on_missing, include_alternatives, crop_calendar_dir, calendar, resume) -> None:
    """Chip grid, masks and STAC catalog for FIELDS (any vector file with field polygons) in OUTPUT_DIR;
    with --select-images also the planting and harvest scenes, with --download-images also their images.

    Re-running the same command does only what is missing, read from the Dagster instance in
    OUTPUT_DIR/dagster_home.
    """
    from ftw_assets.core.geometry.fields import read_fields, resolve_year

    settings = DatasetSettings(
        fields=str(Path(fields).resolve()), name=name, year=year, min_coverage=min_coverage, split_type=split_type,
        split_percents=split_percents, mask_types=mask_types.split(","), presence_only=presence_only,
        chip_size_px=chip_size_px, cell_km=int(cell_km), seed=seed, stac_host=_stac_host(stac_host),
        collection=collection,
    ).check()
    if inventory:
        open_source(settings.stac_host, settings.collection)  # a bad --stac-host fails before anything is written
    selection, images = None, None
    if download_images:
        from ftw_assets.core.raster.clip import ImageSettings

        images = ImageSettings(tuple(bands.split(",")), num_workers).check()
        select_images = True
    if select_images:
        selection = _selection_settings(stac_host, collection, buffer_days, cloud_cover_scene, pixel_check,
                                        cloud_cover_pixel, on_missing, include_alternatives, crop_calendar_dir, calendar)
    # Fail before anything is written when the input cannot work.
    frame, report = read_fields(settings.fields)
    season = resolve_year(frame, settings.year, settings.fields)
    click.echo(f"{report.fields} fields from {fields} (CRS {report.source_crs}), year {season}")

    output_dir = Path(output_dir).resolve()
    _check_same_dataset(output_dir, settings)
    output_dir.mkdir(parents=True, exist_ok=True)
    settings.save(output_dir)
    redo = _save_selection(output_dir, selection) if selection else False
    redo_images = _save_images(output_dir, images) if images else False
    summary = _materialize(output_dir, chips_per_run, inventory, select=bool(selection), redo_selection=redo,
                           download=bool(images), redo_images=redo_images)
    layout = Layout(output_dir, settings.name)
    _print_summary(summary, layout)
    if selection:
        _print_report(layout)
    if images:
        _print_download_report(layout)
    if summary.failed:
        sys.exit(1)


def _save_images(output_dir: Path, images) -> bool:
    """Store the image options; True when they differ from the stored ones (write all images again)."""
    from ftw_assets.core.raster.clip import IMAGES_FILE, ImageSettings

    changed = (output_dir / IMAGES_FILE).exists() and ImageSettings.load(output_dir).bands != images.bands
    if changed:
        click.echo("--bands differ from the last run: every image is written again")
    images.save(output_dir)
    return changed


def _load_report(path: Path, copy_to: Path | None) -> dict | None:
    """A report JSON of the catalog folder, also copied to ``copy_to`` (``--output-report``)."""
    if not path.exists():
        return None
    text = path.read_text()
    if copy_to:
        from ftw_assets.core.atomic import write_text

        write_text(copy_to, text)
    return json.loads(text)


def _print_download_report(layout: Layout, copy_to: Path | None = None) -> None:
    report = _load_report(layout.download_report, copy_to)
    if report is None:
        return
    click.echo(f"Images: {report['successful']} of {report['total_processed']} chip-season images written, "
               f"{len(report['failed'])} failed (report: {layout.download_report})")
    for f in report["failed"][:20]:
        click.secho(f"  failed {f['chip']} {f['season']}: {f['url']}: {f['error']}", fg="red", err=True)


def _save_selection(output_dir: Path, selection) -> bool:
    """Store the selection options; True when they differ from the stored ones (re-select all)."""
    from ftw_assets.core.scenes.selection import SELECTION_FILE, SelectionSettings

    path = output_dir / SELECTION_FILE
    changed = path.exists() and SelectionSettings.load(output_dir) != selection
    if changed:
        click.echo("selection options differ from the last run: every chip-year is selected again")
    selection.save(output_dir)
    return changed


def _print_report(layout: Layout) -> None:
    if not layout.selection_report.exists():
        return
    report = json.loads(layout.selection_report.read_text())
    click.echo(f"Selection: {report['successful']} of {report['total_processed']} chip-years with both seasons; "
               f"{len(report['skipped'])} season(s) skipped, {len(report['failed'])} chip-year(s) failed "
               f"(report: {layout.selection_report})")
    for s in report["skipped"][:20]:
        click.echo(f"  skipped {s['chip']} {s['season']}: {s['reason']} ({s['candidates_checked']} checked)")
    for f in report["failed"][:20]:
        click.secho(f"  failed {f['chip']}: {f['error']}", fg="red", err=True)


def _check_same_dataset(output_dir: Path, settings: DatasetSettings) -> None:
    from ftw_assets.core.errors import InputError

    if not (output_dir / "dataset.json").exists():
        return
    previous = DatasetSettings.load(output_dir)
    changed = previous.differs_from(settings)
    if changed:
        raise InputError(
            f"{output_dir} already holds a dataset made with different {', '.join(changed)}. "
            "Rerun with the same options to resume it, or choose a new OUTPUT_DIR."
        )


def _stac_host(value: str) -> str:
    """Local archive paths are stored absolute, so the dataset works from any folder."""
    if "://" in value or value in ("earthsearch", "planetary-computer", "local"):
        return value
    return str(Path(value).resolve())


def _materialize(output_dir: Path, chips_per_run: int | None, inventory: bool = False, select: bool = False,
                 redo_selection: bool = False, download: bool = False, redo_images: bool = False,
                 refine: bool = False, after: list | None = None):
    os.environ["FTW_OUTPUT_DIR"] = str(output_dir)
    from ftw_assets.definitions import build_defs
    from ftw_assets.partitions import CHIPS_PER_RUN
    from ftw_assets.runner import materialize_missing, open_instance
    from ftw_assets.defs.chips.assets import chip_grid, chip_registry, field_boundaries
    from ftw_assets.defs.masks.assets import masks
    from ftw_assets.defs.catalog.assets import stac_catalog
    from ftw_assets.defs.scenes.inventory import scene_inventory
    from ftw_assets.defs.scenes.calendar import crop_calendar
    from ftw_assets.defs.scenes.selection import selected_scenes
    from ftw_assets.defs.images.assets import clipped_images
    from ftw_assets.defs.images.checks import clipped_image_checks
    from ftw_assets.defs.refinement.assets import cloud_refinement

    layout = Layout(output_dir, DatasetSettings.load(output_dir).name)
    instance = open_instance(layout)
    defs = build_defs(output_dir)
    return materialize_missing(
        defs, instance,
        unpartitioned=[field_boundaries.key, chip_registry.key],
        partitioned=[chip_grid.key, masks.key, *([crop_calendar.key, selected_scenes.key] if select else []),
                     *([clipped_images.key] if download else []), *([cloud_refinement.key] if refine else []),
                     stac_catalog.key],
        redo=((selected_scenes.key,) if redo_selection else ()) + ((clipped_images.key,) if redo_images else ())
        + ((cloud_refinement.key,) if refine else ()),
        checks=tuple(clipped_image_checks.check_keys) if download else (),
        batch=chips_per_run or CHIPS_PER_RUN,
        echo=click.echo,
        after=([scene_inventory.key] if inventory else []) + list(after or []),
    )


def _print_summary(summary, layout: Layout) -> None:
    ran = summary.partitions_run
    failed = summary.failed
    click.echo("")
    if not summary.runs:
        click.echo("Nothing to do: every asset of every chip-year is already materialized.")
    else:
        click.echo(f"{len(summary.runs)} run(s), {ran} chip-years processed, {len(failed)} run(s) failed.")
    items = len(list(layout.catalog_dir.glob("*/*.json"))) if layout.catalog_dir.exists() else 0
    click.echo(f"Catalog: {layout.collection_json} ({items} items; index {layout.items_parquet.name})")
    click.echo(f"Dagster history: DAGSTER_HOME={layout.dagster_home}")
    for run in failed:
        click.secho(f"failed: {'+'.join(run.assets)} {run.first} .. {run.last}", fg="red", err=True)
        for e in run.errors:
            click.secho(f"  {e}", fg="red", err=True)


@main.command("demo")
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data/demo"))
@click.option("--fields", "fields_path", type=click.Path(path_type=Path), default=Path("data/demo_fields.gpkg"),
              show_default=True, help="Where the generated demo field file is kept (made once).")
@click.option("--archive", "archive_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data/archive"),
              show_default=True, help="Where the generated local Sentinel-2 archive is kept (made once).")
@click.pass_context
def demo(ctx, output_dir, fields_path, archive_dir) -> None:
    """Build the demo dataset from the embedded demo world (generated once, no network): demo fields,
    a local Sentinel-2 archive searched as stac-geoparquet, chips, masks, catalog and scene inventory."""
    from ftw_assets.demo.archive import build_archive
    from ftw_assets.demo.world import DEMO_YEAR, write_demo_fields

    if not Path(fields_path).exists():
        write_demo_fields(fields_path)
        click.echo(f"generated demo fields: {fields_path}")
    started = time.monotonic()
    parquet = build_archive(archive_dir)
    click.echo(f"local Sentinel-2 archive: {parquet} ({time.monotonic() - started:.1f} s)")
    calendar_dir = _demo_calendar_dir(Path(archive_dir).parent / "demo_calendar")
    ctx.invoke(create_dataset, fields=fields_path, output_dir=output_dir, name="demo", year=DEMO_YEAR,
               stac_host=str(parquet), inventory=True, download_images=True, crop_calendar_dir=calendar_dir)


@main.command("select-images")
@click.argument("catalog", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--stac-host", default=None, help=f"Scene source (default: the dataset's): {STAC_HOST_HELP}.")
@click.option("--collection", default=None, help="STAC collection (default depends on --stac-host).")
@click.option("--chips-per-run", type=int, default=None, help="Chip-years per Dagster run (default 100).")
@selection_options
def select_images(catalog, stac_host, collection, chips_per_run, buffer_days, cloud_cover_scene, pixel_check,
                  cloud_cover_pixel, on_missing, include_alternatives, crop_calendar_dir, calendar, resume) -> None:
    """Pick each chip-year's planting and harvest Sentinel-2 scenes by crop calendar, as STAC child items.

    CATALOG is a dataset folder made by create-dataset (or its NAME-chips catalog folder). Prints and
    writes the report (CATALOG/NAME-chips/selection_report.json)."""
    output_dir = _dataset_dir(catalog)
    settings = DatasetSettings.load(output_dir)
    selection = _selection_settings(stac_host or settings.stac_host, collection or (None if stac_host else settings.collection),
                                    buffer_days, cloud_cover_scene, pixel_check, cloud_cover_pixel, on_missing,
                                    include_alternatives, crop_calendar_dir, calendar)
    redo = _save_selection(output_dir, selection)
    if redo and resume:
        click.echo("--resume: keeping earlier choices would mix options; re-selecting all anyway")
    summary = _materialize(output_dir, chips_per_run, select=True, redo_selection=redo)
    layout = Layout(output_dir, settings.name)
    _print_summary(summary, layout)
    _print_report(layout)
    if summary.failed:
        sys.exit(1)


def _dataset_dir(path: Path) -> Path:
    from ftw_assets.core.dataset.settings import SETTINGS_FILE
    from ftw_assets.core.errors import InputError

    path = Path(path).resolve()
    for candidate in (path, path.parent):
        if (candidate / SETTINGS_FILE).exists():
            return candidate
    raise InputError(f"{path} is not a dataset folder (no {SETTINGS_FILE} in it or its parent); "
                     "give the OUTPUT_DIR of `ftwd create-dataset` or its NAME-chips folder")


@main.command("download-images")
@click.argument("catalog", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--bands", default="red,green,blue,nir", show_default=True,
              help="Comma-separated bands: red green blue nir nir08 rededge1 rededge2 rededge3 swir16 swir22 scl "
                   "cloud_probability (20 m bands are resampled to 10 m).")
@click.option("--num-workers", type=int, default=4, show_default=True, help="Threads reading scene bands at once.")
@click.option("--chips-per-run", type=int, default=None, help="Chip-years per Dagster run (default 100).")
@click.option("--resume", is_flag=True, help="Only chip-years without images (the default unless --bands changed).")
@click.option("--output-report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the report (JSON) here.")
def download_images(catalog, bands, num_workers, chips_per_run, resume, output_report) -> None:
    """Write each selected scene's image of each chip as a COG on the chip's mask grid, with a thumbnail.

    CATALOG is a dataset folder whose scenes were selected (select-images). Each scene's bands are
    opened once for all the chips of a run. The report (written and failed images, with URL and
    reason) goes to NAME-chips/download_report.json."""
    from ftw_assets.core.raster.clip import ImageSettings
    from ftw_assets.core.scenes.selection import SelectionSettings

    output_dir = _dataset_dir(catalog)
    settings = DatasetSettings.load(output_dir)
    images = ImageSettings(tuple(bands.split(",")), num_workers).check()
    selection = SelectionSettings.load(output_dir, settings.stac_host, settings.collection)
    redo = _save_images(output_dir, images)
    summary = _materialize(output_dir, chips_per_run, select=True, download=True, redo_images=redo)
    layout = Layout(output_dir, settings.name)
    _print_summary(summary, layout)
    _print_download_report(layout, output_report)
    if summary.failed:
        sys.exit(1)
    del selection, resume


@main.command("refine-cloud-cover")
@click.argument("catalog", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--cloud-cover-pixel", type=float, default=0.0, show_default=True,
              help="Reject a chip's scene when more than this percent of the chip's valid pixels are cloud or shadow.")
@click.option("--cloud-probability-threshold", type=int, default=50, show_default=True,
              help="Cloud probability (0-100) above which a pixel counts as cloud, besides SCL 3, 8, 9, 10.")
@click.option("--max-attempts", type=int, default=3, show_default=True,
              help="Re-selections per chip-season; after that the season is skipped with the reason.")
@click.option("--update-items", is_flag=True,
              help="Kept for familiarity: the season items always get the chip-level eo:cloud_cover.")
@click.option("--reselect/--no-reselect", default=True, show_default=True,
              help="Select again, as the sensor does, for the chip-years whose scene was rejected.")
@click.option("--chips-per-run", type=int, default=None, help="Chip-years per Dagster run (default 100).")
@click.option("--output-report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the report (JSON) here.")
def refine_cloud_cover(catalog, cloud_cover_pixel, cloud_probability_threshold, max_attempts, update_items, reselect,
                       chips_per_run, output_report) -> None:
    """Measure cloud on each chip's own pixels of its selected scenes; reject scenes above the threshold.

    Prints and writes (NAME-chips/refinement_report.json) the measured cover, the threshold and the
    outcome per chip-season. With --reselect (the default) the rejected chip-years are selected again
    (rejected scenes excluded), their images rewritten and measured again, until every chip-season
    passes or has used its attempts, just as the reselect_cloudy_chips sensor does in the Dagster UI."""
    from ftw_assets.core.raster.clip import IMAGES_FILE
    from ftw_assets.core.scenes.refinement import RefinementSettings

    output_dir = _dataset_dir(catalog)
    settings = DatasetSettings.load(output_dir)
    refine = RefinementSettings(cloud_cover_pixel, cloud_probability_threshold, max_attempts).check()
    refine.save(output_dir)
    layout = Layout(output_dir, settings.name)
    with_images = (output_dir / IMAGES_FILE).exists()
    cursor = _latest_refinement(layout)
    summary = _materialize(output_dir, chips_per_run, select=True, download=with_images, refine=True)
    _print_summary(summary, layout)
    failed = bool(summary.failed)
    if reselect and not failed:
        failed = _reselect(layout, output_dir, cursor, refine.max_attempts, with_images)
    _print_refinement_report(layout, output_report)
    if failed:
        sys.exit(1)
    del update_items


def _latest_refinement(layout: Layout) -> int:
    import dagster as dg

    from ftw_assets.defs.refinement.assets import cloud_refinement
    from ftw_assets.runner import open_instance

    result = open_instance(layout).fetch_materializations(dg.AssetRecordsFilter(asset_key=cloud_refinement.key),
                                                          limit=1, ascending=False)
    return result.records[0].storage_id if result.records else 0


def _reselect(layout: Layout, output_dir: Path, cursor: int, max_attempts: int, with_images: bool) -> bool:
    """The sensor's loop, in-process: returns True if a run failed."""
    from ftw_assets.core.scenes.refinement import reselection_targets
    from ftw_assets.definitions import build_defs
    from ftw_assets.automation.sensors import RESELECT_TAG, refinement_events, reselection_chain, reselection_runs
    from ftw_assets.runner import execute_plan, open_instance

    instance, defs = open_instance(layout), build_defs(output_dir)
    for _ in range(max_attempts + 2):  # each round re-selects what the previous round rejected
        events, cursor = refinement_events(instance, cursor)
        targets, _ = reselection_targets(events, max_attempts)
        if not targets:
            return False
        click.echo(f"selecting again for {len(targets)} chip-year(s) whose scene was rejected: {', '.join(targets[:10])}")
        outcomes = execute_plan(defs, instance, reselection_runs(instance, targets, reselection_chain(with_images)),
                                click.echo, tags={RESELECT_TAG: "cloud-refinement"})
        if any(not o.success for o in outcomes):
            return True
    return False


def _print_refinement_report(layout: Layout, copy_to: Path | None) -> None:
    report = _load_report(layout.refinement_report, copy_to)
    if report is None:
        return
    click.echo(f"Cloud refinement: {report['chip_seasons']} chip-season(s) {report['counts']} "
               f"(report: {layout.refinement_report})")
    for row in report["rows"]:
        click.echo(f"  {row['chip']} {row['season']:8} {row['scene_id']}  cloud {row['cloud_cover']:6.2f} %  "
                   f"threshold {row['threshold']:g} %  {row['outcome']}")


@main.command("status")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def status(output_dir) -> None:
    """Per asset: materialized, failed, in-progress and missing chip-year partitions, and the last errors,
    read from the dataset's Dagster instance."""
    from ftw_assets.definitions import build_defs
    from ftw_assets.runner import last_errors, open_instance, partition_status

    output_dir = _dataset_dir(output_dir)
    layout = Layout(output_dir, DatasetSettings.load(output_dir).name)
    instance = open_instance(layout)
    table = partition_status(build_defs(output_dir), instance)
    click.echo(f"{'asset':18}{'materialized':>14}{'failed':>8}{'in progress':>13}{'missing':>9}{'total':>7}")
    for asset, c in table.items():
        click.echo(f"{asset:18}{c['materialized']:>14}{c['failed']:>8}{c['in_progress']:>13}{c['missing']:>9}{c['total']:>7}")
    errors = last_errors(instance)
    if errors:
        click.echo("last errors:")
        for line in errors:
            click.echo(f"  {line}")


@main.command("add-year")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("year", type=int)
@click.option("--chips-per-run", type=int, default=None, help="Chip-years per Dagster run (default 100).")
def add_year(output_dir, year, chips_per_run) -> None:
    """Add YEAR to every chip of the dataset and build what the dataset is configured for (masks and
    catalog; scenes and images when their options files exist) for the new chip-years. Run
    refine-cloud-cover afterwards to refine the new year too."""
    from ftw_assets.core.raster.clip import IMAGES_FILE
    from ftw_assets.core.geometry.fields import resolve_year
    from ftw_assets.core.scenes.selection import SELECTION_FILE
    from ftw_assets.partitions import YEARS
    from ftw_assets.runner import open_instance

    output_dir = _dataset_dir(output_dir)
    settings = DatasetSettings.load(output_dir)
    year = resolve_year(None, year, f"year {year}")  # the same bounds as --year
    layout = Layout(output_dir, settings.name)
    instance = open_instance(layout)
    if str(year) not in instance.get_dynamic_partitions(YEARS):
        instance.add_dynamic_partitions(YEARS, [str(year)])
        click.echo(f"added {year}: every chip now has a {year} partition")
    summary = _materialize(output_dir, chips_per_run, select=(output_dir / SELECTION_FILE).exists(),
                           download=(output_dir / IMAGES_FILE).exists(), refine=False)
    _print_summary(summary, layout)
    if summary.failed:
        sys.exit(1)


@main.command("qa-report")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def qa_report_command(output_dir) -> None:
    """Write NAME-chips/qa_report.html (self-contained) and link it from the collection."""
    from ftw_assets.defs.catalog.qa import qa_report

    output_dir = _dataset_dir(output_dir)
    summary = _materialize(output_dir, None, after=[qa_report.key])
    layout = Layout(output_dir, DatasetSettings.load(output_dir).name)
    if summary.failed:
        _print_summary(summary, layout)
        sys.exit(1)
    click.echo(f"QA report: {layout.catalog_dir / 'qa_report.html'}")


@main.command("release")
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--version", "version", required=True, help="Release version, e.g. 1.0.0.")
def release_command(output_dir, version) -> None:
    """Archive the catalog folder as OUTPUT_DIR/releases/NAME-chips-VERSION.tar.gz with a sha256
    manifest (counts and parameters included); the same dataset gives the same manifest and bytes."""
    from ftw_assets.core.reports.release import release

    output_dir = _dataset_dir(output_dir)
    layout = Layout(output_dir, DatasetSettings.load(output_dir).name)
    archive, manifest = release(layout, version)
    counts = json.loads(manifest.read_text())["counts"]
    click.echo(f"{archive} ({archive.stat().st_size:,} bytes); manifest {manifest}; {counts}")


@main.command("doctor")
@click.option("--stac-host", default="earthsearch", show_default=True, help=f"Scene source to check: {STAC_HOST_HELP}.")
@click.option("--collection", default=None, help="STAC collection.")
@click.option("--crop-calendar-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder with the crop calendar COGs (default: the cache).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A dataset folder whose Dagster home to check.")
def doctor(stac_host, collection, crop_calendar_dir, output_dir) -> None:
    """Check GDAL and PROJ, the cache folder, the crop calendar, the Dagster home, the STAC host and disk
    space; say what to fix. Exit 1 when a check fails."""
    from ftw_assets.core.reports.doctor import FAIL, run_checks

    checks = run_checks(_stac_host(stac_host), collection, str(crop_calendar_dir) if crop_calendar_dir else None,
                        output_dir)
    for c in checks:
        click.secho(f"{c.state:5} {c.name:14} {c.detail}", fg={"ok": None, "warn": "yellow"}.get(c.state, "red"))
    if any(c.state == FAIL for c in checks):
        sys.exit(1)


@main.command("make-archive")
@click.argument("archive_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data/archive"))
@click.option("--blocks", default="7,6,2,2", show_default=True,
              help="Which 1024 px blocks of tile 33UWP: first column, first row, columns, rows (2,2 = 20 km square).")
@click.option("--years", default="2021,2024", show_default=True, help="Comma-separated years to generate.")
@click.option("--seed", type=int, default=42, show_default=True)
def make_archive(archive_dir, blocks, years, seed) -> None:
    """Generate the local Sentinel-2 archive (COGs + stac-geoparquet) used by the demo, tests and bench.

    Reused when ARCHIVE_DIR/archive.json matches the options."""
    from ftw_assets.demo.archive import ArchiveSpec, build_archive

    try:
        col, row, cols, rows = (int(v) for v in blocks.split(","))
        spec = ArchiveSpec(col, row, cols, rows, tuple(int(y) for y in years.split(",")), seed)
    except ValueError:
        raise click.BadParameter("use four integers like 7,6,2,2 and years like 2021,2024") from None
    started = time.monotonic()
    parquet = build_archive(archive_dir, spec)
    click.echo(f"{parquet} ({time.monotonic() - started:.1f} s); use it with --stac-host {parquet}")


@main.command("search-scenes")
@click.option("--stac-host", default="earthsearch", show_default=True, help=f"Scene source: {STAC_HOST_HELP}.")
@click.option("--collection", default=None, help="STAC collection (default depends on --stac-host).")
@click.option("--bbox", required=True, help="west,south,east,north in WGS84 degrees.")
@click.option("--datetime", "interval", required=True, help="start/end dates, e.g. 2024-03-01/2024-04-30 (inclusive).")
@click.option("--max-cloud", type=float, default=None, help="Keep scenes with eo:cloud_cover at most this.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON record per scene.")
def search_scenes(stac_host, collection, bbox, interval, max_cloud, as_json) -> None:
    """Search a scene source and print the normalised scenes (cloud, nodata, baseline, offset decided)."""
    from datetime import datetime, timedelta, timezone

    from ftw_assets.core.errors import InputError
    from ftw_assets.core.scenes.sources import SceneQuery

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
    source = open_source(_stac_host(stac_host), collection)
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


@main.command("ui")
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; keep 127.0.0.1 unless you mean to share it.")
@click.option("--port", default=3000, show_default=True)
def ui(output_dir, host, port) -> None:
    """Start the Dagster UI (and daemon) over OUTPUT_DIR's dataset and instance."""
    output_dir = Path(output_dir).resolve()
    DatasetSettings.load(output_dir)
    from ftw_assets.runner import open_instance

    layout = Layout(output_dir, DatasetSettings.load(output_dir).name)
    open_instance(layout).dispose()
    env = {**os.environ, "FTW_OUTPUT_DIR": str(output_dir), "DAGSTER_HOME": str(layout.dagster_home)}
    args = ["dagster", "dev", "-m", "ftw_assets", "-h", host, "-p", str(port)]
    dagster = Path(sys.executable).with_name("dagster")
    os.execvpe(str(dagster) if dagster.exists() else "dagster", args, env)


if __name__ == "__main__":
    main()
