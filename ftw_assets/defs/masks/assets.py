"""Label masks per chip-year: instance, 2-class and 3-class semantic COGs on the chip grid."""


import dagster as dg
import geopandas as gpd

from ftw_assets.batch import CHIP_WORKERS, chip_years, for_each_chip_year
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.defs.chips.assets import chip_grid
from ftw_assets.core.geometry.grid import fields_bbox, grid_for_chip, read_chip_table
from ftw_assets.core.raster.masks import FieldsNearChips, write_chip_masks
from ftw_assets.partitions import chip_year_backfill, chip_year_partitions
from ftw_assets.resources import DatasetResource


@dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill, deps=[chip_grid],
          group_name="masks", kinds={"cog"})
def masks(context: dg.AssetExecutionContext, dataset: DatasetResource) -> None:
    """Rasterise the fields onto each chip's grid; the fields near the run's chips are read and indexed once."""
    settings, layout = dataset.settings(), dataset.layout()
    chips = read_chip_table(layout.chips_parquet)
    bbox = fields_bbox(chips, [cy.chip for cy in chip_years(context)], settings.chip_size_px)
    fields = FieldsNearChips(gpd.read_parquet(layout.fields_parquet, bbox=bbox))

    def work(chip_year: ChipYear) -> dict:
        chip, year = chip_year.chip, chip_year.year
        grid = grid_for_chip(chips.loc[chip], settings.chip_size_px)
        paths = {m: layout.chip_file(chip, year, f"{m}.tif") for m in settings.mask_types}
        counts = write_chip_masks(fields.on_grid(grid), grid, paths,
                                  layout.chip_file(chip, year, "instance_ids.csv"), settings.presence_only)
        return {**counts, "folder": dg.MetadataValue.path(str(layout.chip_dir(chip, year)))}

    for_each_chip_year(context, work, workers=CHIP_WORKERS)
