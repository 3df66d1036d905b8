"""Images: ``download-images`` (each selected scene clipped to each chip) and ``refine-cloud-cover``
(cloud measured on each chip's own pixels; rejected scenes selected again)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ftw_assets.cli import options as opt
from ftw_assets.cli.output import print_download_report, print_refinement_report, print_summary
from ftw_assets.cli.progress import run_progress


@opt.command("download-images")
@click.argument("catalog", type=click.Path(exists=True, file_okay=False, path_type=Path))
@opt.image_options()
@opt.refine_cloud
@opt.chips_per_run
@opt.output_report
def download_images(catalog, refine_cloud, chips_per_run, processes, output_report, **options) -> None:
    """Write each selected scene's image of each chip as a COG on the chip's mask grid, with a thumbnail.

    CATALOG is a dataset folder whose scenes were selected (select-images). Each scene's bands are
    opened once for all the chips of a run. The report (written and failed images, with URL and
    reason) goes to NAME-chips/download_report.json. Cloud refinement is on by default: a scene
    cloudy on the chip or with a blank image is rejected and the chip-season selected again (see
    refine-cloud-cover); --no-refine-cloud turns it off."""
    from ftw_assets import pipeline
    from ftw_assets.core.dataset.layout import Layout
    from ftw_assets.core.dataset.settings import DatasetSettings
    from ftw_assets.core.raster.clip import ImageSettings
    from ftw_assets.core.scenes.selection import SelectionSettings
    from ftw_assets.core.dataset.stages import DOWNLOAD, REFINE, require_selection

    output_dir = opt.dataset_dir(catalog)
    settings = DatasetSettings.load(output_dir)
    images = opt.settings_from(ImageSettings, options)
    require_selection(output_dir, "download-images")
    SelectionSettings.load(output_dir, settings.stac_host, settings.collection)  # a broken selection.json fails here
    redo = opt.store_images(output_dir, images)
    refine = refine_cloud is not False
    redo_refine = opt.store_refinement(output_dir, refine)
    summary = pipeline.materialize_dataset(output_dir, redo=[DOWNLOAD] * redo + [REFINE] * redo_refine,
                                           chips_per_run=chips_per_run, processes=processes, echo=click.echo,
                                           progress=run_progress())
    layout = Layout(output_dir, settings.name)
    print_summary(summary, layout)
    print_download_report(layout, output_report)
    if refine:
        print_refinement_report(layout, reselected_only=True)
    if summary.interrupted or summary.failed:  # 130: stopped by Ctrl-C (SIGINT), as a shell reports it
        sys.exit(130 if summary.interrupted else 1)


@opt.command("refine-cloud-cover")
@click.argument("catalog", type=click.Path(exists=True, file_okay=False, path_type=Path))
@opt.option(opt.REFINEMENT, "cloud_cover_pixel")
@opt.option(opt.REFINEMENT, "cloud_probability_threshold")
@opt.option(opt.REFINEMENT, "max_attempts")
@click.option("--reselect/--no-reselect", default=True, show_default=True,
              help="Select again, as the sensor does, for the chip-years whose scene was rejected.")
@opt.chips_per_run
@opt.output_report
def refine_cloud_cover(catalog, reselect, chips_per_run, processes, output_report, **options) -> None:
    """Measure cloud on each chip's own pixels of its selected scenes; reject scenes above the threshold.

    Prints and writes (NAME-chips/refinement_report.json) the measured cover, the threshold and the
    outcome per chip-season. With --reselect (the default) the rejected chip-years are selected again
    (rejected scenes excluded), their images rewritten and measured again, until every chip-season
    passes or has used its attempts, just as the reselect_cloudy_chips sensor does in the Dagster UI."""
    from ftw_assets import pipeline
    from ftw_assets.core.dataset.layout import Layout
    from ftw_assets.core.dataset.settings import DatasetSettings
    from ftw_assets.core.dataset.stages import REFINE, require_selection
    from ftw_assets.core.scenes.refinement import RefinementSettings

    output_dir = opt.dataset_dir(catalog)
    settings = DatasetSettings.load(output_dir)
    refine = opt.settings_from(RefinementSettings, options)
    require_selection(output_dir, "refine-cloud-cover")
    refine.save(output_dir)
    summary = pipeline.materialize_dataset(output_dir, redo=[REFINE], chips_per_run=chips_per_run, processes=processes,
                                           reselect=reselect, echo=click.echo, progress=run_progress())
    layout = Layout(output_dir, settings.name)
    print_summary(summary, layout)
    print_refinement_report(layout, output_report)
    if summary.interrupted or summary.failed:  # 130: stopped by Ctrl-C (SIGINT), as a shell reports it
        sys.exit(130 if summary.interrupted else 1)


COMMANDS = [download_images, refine_cloud_cover]
