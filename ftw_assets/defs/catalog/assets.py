"""The STAC catalog: a parent item per chip-year, the collection, and the items.parquet index."""


import dagster as dg

from ftw_assets.batch import CHIP_WORKERS, for_each_chip_year
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import CalendarRecord, RefinementRecord, SelectionRecord, load
from ftw_assets.core.geometry.grid import grid_for_chip, read_chip_table
from ftw_assets.core.stac.collection import update_collection
from ftw_assets.core.stac.items import chip_item, item_dict, write_item
from ftw_assets.core.stac.parent import parent_fields
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets.core.scenes.selection import SEASONS
from ftw_assets.defs.masks.assets import masks
from ftw_assets.defs.scenes.selection import selected_scenes
from ftw_assets.defs.images.assets import clipped_images
from ftw_assets.defs.refinement.assets import cloud_refinement
from ftw_assets.defs.sensors.assets import SENSOR_ASSETS
from ftw_assets.core.sensors.homogeneity import parent_properties
from ftw_assets.core.sensors.images import item_ids_on_disk
from ftw_assets.partitions import chip_year_backfill, chip_year_partitions
from ftw_assets.resources import DatasetResource


@dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill, deps=[masks, selected_scenes, clipped_images, cloud_refinement, *SENSOR_ASSETS.values()],
          group_name="catalog", kinds={"stac"})
def stac_catalog(context: dg.AssetExecutionContext, dataset: DatasetResource) -> None:
    """Write each chip-year's parent item (validated offline), then bring the index and the collection up
    to date for the run's chip-years, once."""
    settings, layout = dataset.settings(), dataset.layout()
    chips = read_chip_table(layout.chips_parquet)

    def work(chip_year: ChipYear) -> dict:
        chip, year = chip_year.chip, chip_year.year
        row = chips.loc[chip]
        grid = grid_for_chip(row, settings.chip_size_px)
        files = {m: layout.chip_file(chip, year, f"{m}.tif") for m in settings.mask_types}
        missing = [str(p) for p in files.values() if not p.exists()]
        if missing:
            raise FileNotFoundError(f"masks missing, materialize masks for {chip_year} first: {missing}")
        ids_csv = layout.chip_file(chip, year, "instance_ids.csv")
        on_disk = {s for s in SEASONS if layout.season_item_json(chip, year, s).exists()}
        parent = parent_fields(chip_year, row, settings.presence_only, load(layout, chip_year, CalendarRecord),
                               load(layout, chip_year, SelectionRecord), load(layout, chip_year, RefinementRecord),
                               on_disk)
        item = chip_item(
            chip, year, grid, properties={**parent.properties,
                                          **parent_properties(layout, chip_year, settings.extra_sensors())},
            mask_files={m: p.name for m, p in files.items()},
            instance_ids_file=ids_csv.name if ids_csv.exists() else None,
            interval=parent.interval, season_items=parent.season_items,
            sensor_items=tuple(item_ids_on_disk(layout, chip_year, settings.extra_sensors())),
        )
        item.collection_id = f"{layout.name}-chips"
        validate_stac(item_dict(item))
        write_item(item, layout.item_json(chip, year), base_url=settings.base_url)
        return {"item": dg.MetadataValue.path(str(layout.item_json(chip, year))), "split": row["split"]}

    try:
        for_each_chip_year(context, work, workers=CHIP_WORKERS)
    finally:
        # Whatever happened to single items (written, failed, not started), their index entries match
        # their files on disk; the other chip-years' entries are left as they are.
        n = update_collection(layout, settings.fields, [ChipYear.parse(k) for k in context.partition_keys],
                              base_url=settings.base_url)
        context.log.info(f"catalog holds {n} items")

