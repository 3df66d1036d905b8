"""``ftwd``: the dataset commands FTW users know, run through the Dagster asset graph.

Every command works on one output folder that holds the dataset, its parameters
(``dataset.json``) and its Dagster instance (``dagster_home/``), so what the CLI does shows
in the Dagster UI (``ftwd ui OUTPUT_DIR``) and a rerun does only what is missing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .core.dataset import DatasetSettings, Layout
from .core.errors import FtwError
from .core.grid import CELL_SIZES_KM, SPLIT_TYPES
from .core.masks import MASK_TYPES


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
def create_dataset(fields, output_dir, name, year, min_coverage, split_type, split_percents, mask_types,
                   presence_only, chip_size_px, cell_km, seed, chips_per_run) -> None:
    """Chip grid, masks and STAC catalog for FIELDS (any vector file with field polygons) in OUTPUT_DIR.

    Re-running the same command does only what is missing, read from the Dagster instance in
    OUTPUT_DIR/dagster_home.
    """
    from .core.fields import read_fields, resolve_year

    settings = DatasetSettings(
        fields=str(Path(fields).resolve()), name=name, year=year, min_coverage=min_coverage, split_type=split_type,
        split_percents=split_percents, mask_types=mask_types.split(","), presence_only=presence_only,
        chip_size_px=chip_size_px, cell_km=int(cell_km), seed=seed,
    ).check()
    # Fail before anything is written when the input cannot work.
    frame, report = read_fields(settings.fields)
    season = resolve_year(frame, settings.year, settings.fields)
    click.echo(f"{report.fields} fields from {fields} (CRS {report.source_crs}), year {season}")

    output_dir = Path(output_dir).resolve()
    _check_same_dataset(output_dir, settings)
    output_dir.mkdir(parents=True, exist_ok=True)
    settings.save(output_dir)
    summary = _materialize(output_dir, chips_per_run)
    layout = Layout(output_dir, settings.name)
    _print_summary(summary, layout)
    if summary.failed:
        sys.exit(1)


def _check_same_dataset(output_dir: Path, settings: DatasetSettings) -> None:
    from .core.errors import InputError

    if not (output_dir / "dataset.json").exists():
        return
    previous = DatasetSettings.load(output_dir)
    changed = previous.differs_from(settings)
    if changed:
        raise InputError(
            f"{output_dir} already holds a dataset made with different {', '.join(changed)}. "
            "Rerun with the same options to resume it, or choose a new OUTPUT_DIR."
        )


def _materialize(output_dir: Path, chips_per_run: int | None):
    os.environ["FTW_OUTPUT_DIR"] = str(output_dir)
    from .definitions import build_defs
    from .partitions import CHIPS_PER_RUN
    from .runner import materialize_missing, open_instance
    from .chips.assets import chip_grid, chip_registry, field_boundaries
    from .masks.assets import masks
    from .catalog.assets import stac_catalog

    layout = Layout(output_dir, DatasetSettings.load(output_dir).name)
    instance = open_instance(layout)
    defs = build_defs(output_dir)
    return materialize_missing(
        defs, instance,
        unpartitioned=[field_boundaries.key, chip_registry.key],
        partitioned=[chip_grid.key, masks.key, stac_catalog.key],
        batch=chips_per_run or CHIPS_PER_RUN,
        echo=click.echo,
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
@click.pass_context
def demo(ctx, output_dir, fields_path) -> None:
    """Build the demo dataset from the embedded demo world (generated once, no network)."""
    from .core.demo import DEMO_YEAR, write_demo_fields

    if not Path(fields_path).exists():
        write_demo_fields(fields_path)
        click.echo(f"generated demo fields: {fields_path}")
    ctx.invoke(create_dataset, fields=fields_path, output_dir=output_dir, name="demo", year=DEMO_YEAR)


@main.command("ui")
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; keep 127.0.0.1 unless you mean to share it.")
@click.option("--port", default=3000, show_default=True)
def ui(output_dir, host, port) -> None:
    """Start the Dagster UI (and daemon) over OUTPUT_DIR's dataset and instance."""
    output_dir = Path(output_dir).resolve()
    DatasetSettings.load(output_dir)
    from .runner import open_instance

    layout = Layout(output_dir, DatasetSettings.load(output_dir).name)
    open_instance(layout).dispose()
    env = {**os.environ, "FTW_OUTPUT_DIR": str(output_dir), "DAGSTER_HOME": str(layout.dagster_home)}
    args = ["dagster", "dev", "-m", "ftw_assets", "-h", host, "-p", str(port)]
    dagster = Path(sys.executable).with_name("dagster")
    os.execvpe(str(dagster) if dagster.exists() else "dagster", args, env)


if __name__ == "__main__":
    main()
