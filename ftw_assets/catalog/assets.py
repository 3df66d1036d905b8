"""The STAC catalog: a parent item per chip-year, the collection, and the items.parquet index."""


import dagster as dg
import pystac

from ..batch import for_each_chip_year
from ..core.grid import grid_for_chip, read_chip_table
from ..core.stac import PARQUET_TYPE, chip_item, item_dict, rebuild_catalog, write_item
from ..core.validation import validate_stac
from ..masks.assets import masks
from ..partitions import chip_year_backfill, chip_year_partitions
from ..resources import DatasetResource


@dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill, deps=[masks],
          group_name="catalog", kinds={"stac"})
def stac_catalog(context: dg.AssetExecutionContext, dataset: DatasetResource) -> None:
    """Write each chip-year's parent item (validated offline), then rebuild collection and index once."""
    settings, layout = dataset.settings(), dataset.layout()
    chips = read_chip_table(layout.chips_parquet)

    def work(chip: str, year: int) -> dict:
        row = chips.loc[chip]
        grid = grid_for_chip(row, settings.chip_size_px)
        files = {m: layout.chip_file(chip, year, f"{m}.tif") for m in settings.mask_types}
        missing = [str(p) for p in files.values() if not p.exists()]
        if missing:
            raise FileNotFoundError(f"masks missing, materialize masks for {chip}|{year} first: {missing}")
        ids_csv = layout.chip_file(chip, year, "instance_ids.csv")
        item = chip_item(
            chip, year, grid,
            properties={
                "ftw:split": row["split"], "ftw:coverage": round(float(row["coverage"]), 4),
                "ftw:field_count": int(row["field_count"]), "ftw:cell_km": int(row["cell_m"]) // 1000,
                "ftw:mgrs_tile": row["mgrs_tile"], "ftw:year": year, "ftw:presence_only": settings.presence_only,
            },
            mask_files={m: p.name for m, p in files.items()},
            instance_ids_file=ids_csv.name if ids_csv.exists() else None,
        )
        item.collection_id = f"{layout.name}-chips"
        validate_stac(item_dict(item))
        write_item(item, layout.item_json(chip, year))
        return {"item": dg.MetadataValue.path(str(layout.item_json(chip, year))), "split": row["split"]}

    try:
        for_each_chip_year(context, work)
    finally:
        # Whatever happened to single items, the collection and index match the files on disk.
        n = rebuild_catalog(layout, description=f"FTW training chips built by ftw_assets from {settings.fields}",
                            extra_assets=_collection_assets())
        context.log.info(f"catalog holds {n} items")


def _collection_assets() -> dict[str, pystac.Asset]:
    return {
        "chips": pystac.Asset("./chips.parquet", media_type=PARQUET_TYPE, roles=["metadata"],
                              title="Chip table: id, geometry, UTM EPSG, coverage, split, field count"),
        "instance_ids": pystac.Asset("./instance_ids.csv", media_type="text/csv", roles=["metadata"],
                                     title="Instance value of every input field, for the whole dataset"),
    }
