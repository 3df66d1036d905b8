"""``export``: the dataset in the folder layout of the FTW training tools (torchgeo, ftw-tools)."""

from __future__ import annotations

from pathlib import Path

import click

from ftw_assets.cli import options as opt


@opt.command("export")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["ftw"]), default="ftw", show_default=True,
              help="ftw: the layout torchgeo's FieldsOfTheWorld and `ftw model fit` read.")
@click.option("--country", default=None,
              help="Country folder name (default: the dataset name). torchgeo and ftw-tools accept only the 25 FTW "
                   "names (e.g. austria): use one to train with `ftw model fit`.")
def export(dataset, out_dir, fmt, country) -> None:
    """Write DATASET's chip-years with both seasons to OUT_DIR/COUNTRY in the FTW layout: window_a (planting) and
    window_b (harvest) images, 2-class, 3-class and instance masks at 256 x 256, chips_COUNTRY.parquet with
    aoi_id, split and geometry, and the checksum files. Chip-years missing a season are left out and listed.
    The dataset is not changed; a rerun writes only what changed."""
    from ftw_assets.core.dataset.layout import Layout
    from ftw_assets.core.dataset.settings import DatasetSettings
    from ftw_assets.core.export.ftw import export_ftw

    output_dir = opt.dataset_dir(dataset, write=False)
    settings = DatasetSettings.load(output_dir)
    report = export_ftw(Layout(output_dir, settings.name), settings, out_dir, country)
    for line in report.summary():
        click.echo(line)


COMMANDS = [export]
