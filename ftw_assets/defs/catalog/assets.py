"""The STAC catalog: a parent item per chip-year, the collection, and the items.parquet index."""


import datetime as dt

import dagster as dg
import pystac

from ftw_assets.batch import for_each_chip_year
from ftw_assets.core.geometry.grid import grid_for_chip, read_chip_table
from ftw_assets.core.stac.items import PARQUET_TYPE, chip_item, item_dict, rebuild_catalog, write_item
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets.core.dataset.records import CALENDAR_RECORD, REFINEMENT_RECORD, SELECTION_RECORD, read_record
from ftw_assets.core.scenes.selection import SEASONS
from ftw_assets.defs.masks.assets import masks
from ftw_assets.defs.scenes.selection import selected_scenes
from ftw_assets.defs.images.assets import clipped_images
from ftw_assets.defs.refinement.assets import cloud_refinement
from ftw_assets.partitions import chip_year_backfill, chip_year_partitions
from ftw_assets.resources import DatasetResource


@dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill, deps=[masks, selected_scenes, clipped_images, cloud_refinement],
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
        scenes_props, interval, children = _scene_properties(layout, chip, year)
        item = chip_item(
            chip, year, grid,
            properties={
                "ftw:split": row["split"], "ftw:coverage": round(float(row["coverage"]), 4),
                "ftw:field_count": int(row["field_count"]), "ftw:cell_km": int(row["cell_m"]) // 1000,
                "ftw:mgrs_tile": row["mgrs_tile"], "ftw:year": year, "ftw:presence_only": settings.presence_only,
                **scenes_props,
            },
            mask_files={m: p.name for m, p in files.items()},
            instance_ids_file=ids_csv.name if ids_csv.exists() else None,
            interval=interval, season_items=children,
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


def _scene_properties(layout, chip: str, year: int):
    """Crop calendar and selection results for the parent item, when those assets have run."""
    props: dict = {}
    interval, children = None, []
    cal = read_record(layout, chip, year, CALENDAR_RECORD)
    if cal and "skipped" not in cal:
        props.update({"ftw:planting_day": cal["planting_day"], "ftw:harvest_day": cal["harvest_day"],
                      "ftw:calendar_year": year, "ftw:calendar": cal["calendar"],
                      "ftw:calendar_source": cal["calendar_source"]})
        if cal["calendar_source"] == "nearest":
            props["ftw:calendar_distance_km"] = cal["calendar_distance_km"]
    sel = read_record(layout, chip, year, SELECTION_RECORD)
    if sel and sel.get("status") != "failed":
        props.update(sel.get("settings", {}))
        props["ftw:source"] = sel.get("source", "")
        times, missing = [], []
        seasons = sel.get("seasons", {})
        for season in (x for x in SEASONS if x in seasons):
            s = seasons[season]
            if s.get("scene_id") and layout.season_item_json(chip, year, season).exists():
                times.append(dt.datetime.fromisoformat(s["datetime"]))
                children.append(layout.season_item_json(chip, year, season).stem)
            else:
                missing.append({"season": season, "reason": s.get("reason") or "not selected"})
        if times:
            interval = (min(times), max(times))
        if missing:
            props["ftw:seasons_missing"] = missing
    refined = read_record(layout, chip, year, REFINEMENT_RECORD)
    if refined:
        props["ftw:cloud_cover_pixel_threshold"] = refined["threshold"]
    return props, interval, tuple(children)


def _collection_assets() -> dict[str, pystac.Asset]:
    return {
        "chips": pystac.Asset("./chips.parquet", media_type=PARQUET_TYPE, roles=["metadata"],
                              title="Chip table: id, geometry, UTM EPSG, coverage, split, field count"),
        "instance_ids": pystac.Asset("./instance_ids.csv", media_type="text/csv", roles=["metadata"],
                                     title="Instance value of every input field, for the whole dataset"),
    }
