"""cloud_refinement: each chip-season's cloud share measured on the chip's own pixels of its scene."""

import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from ftw_assets.batch import chip_years, for_each_chip_year
from ftw_assets.core.scenes import cloudstats
from ftw_assets.core.atomic import write_text
from ftw_assets.core.geometry.grid import grid_for_chip, read_chip_table
from ftw_assets.core.dataset.records import REFINEMENT_RECORD, SELECTION_RECORD, all_records, read_record, write_record
from ftw_assets.core.scenes.refinement import RefinementSettings, add_rejections, outcome, refinement_report, rejections
from ftw_assets.core.scenes.model import scene_from_dict
from ftw_assets.core.scenes.selection import SEASONS, SelectionSettings
from ftw_assets.core.stac.items import write_item
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets.partitions import chip_year_backfill, chip_year_partitions
from ftw_assets.resources import DatasetResource
from ftw_assets.resources import SceneSourceResource
from ftw_assets.defs.scenes.selection import selected_scenes


@dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill, deps=[selected_scenes],
          group_name="refinement", kinds={"duckdb"})
def cloud_refinement(context: dg.AssetExecutionContext, dataset: DatasetResource, scene_source: SceneSourceResource,
                     duckdb: DuckDBResource) -> None:
    """Read the chip window of each selected scene's SCL (3, 8, 9, 10) and cloud probability, write the
    chip-level ``eo:cloud_cover`` into the season item, and reject the scene for that chip-season
    (DuckDB ``rejected_scenes``) above ``--cloud-cover-pixel``; the sensor then selects again."""
    settings, layout = dataset.settings(), dataset.layout()
    refine = RefinementSettings.load(layout.output_dir)
    source = scene_source.open_for_selection(SelectionSettings.load(layout.output_dir, settings.stac_host,
                                                                    settings.collection))
    chips = read_chip_table(layout.chips_parquet)
    wanted, scenes = [], {}
    for chip, year in chip_years(context):
        grid = grid_for_chip(chips.loc[chip], settings.chip_size_px)
        for season, chosen in ((read_record(layout, chip, year, SELECTION_RECORD) or {}).get("seasons") or {}).items():
            if chosen.get("scene") and layout.season_item_json(chip, year, season).exists():
                scenes[(chip, year, season)] = scene_from_dict(chosen["scene"])
                wanted.append(((chip, year, season), grid, scenes[(chip, year, season)], True))
    found = cloudstats.measure(wanted, refine.cloud_probability_threshold, source.href_for_read, source.policy)
    measured = {key: found[(key, scenes[key].id)] for key in scenes}
    rows = [(c, y, s, scenes[(c, y, s)].id, round(cloud * 100, 4), float(refine.cloud_cover_pixel))
            for (c, y, s), (nodata, cloud) in measured.items() if outcome(cloud, nodata, refine) == "rejected"]
    with duckdb.get_connection() as conn:
        add_rejections(conn, rows)
        counts = rejections(conn, chip_years(context))

    def work(chip: str, year: int) -> dict:
        record = {"threshold": float(refine.cloud_cover_pixel), "seasons": {}}
        meta, rejected = {}, {}
        for season in SEASONS:
            if (chip, year, season) not in measured:
                continue
            nodata, cloud = measured[(chip, year, season)]
            result = outcome(cloud, nodata, refine)
            cover = round(cloud * 100, 4)
            item_path = layout.season_item_json(chip, year, season)
            item = json.loads(item_path.read_text())
            item["properties"].update({"eo:cloud_cover": cover, "ftw:cloud_cover_measured": True})
            validate_stac(item)
            write_item(item, item_path)
            n = len(counts.get((chip, year, season), ()))
            record["seasons"][season] = {"scene_id": scenes[(chip, year, season)].id, "cloud_cover": cover,
                                         "nodata_share": round(nodata, 6), "outcome": result, "rejections": n}
            meta[f"{season}_cloud_cover"] = cover
            meta[f"{season}_outcome"] = result
            if result == "rejected":
                rejected[season] = n
        write_record(layout, chip, year, REFINEMENT_RECORD, record)
        # The sensor reads "rejected" ({season: rejections so far}) from this materialization.
        return {**meta, "threshold": float(refine.cloud_cover_pixel), "rejected": dg.MetadataValue.json(rejected)}

    try:
        for_each_chip_year(context, work)
    finally:
        write_text(layout.refinement_report, json.dumps(refinement_report(all_records(layout, REFINEMENT_RECORD)),
                                                        indent=2) + "\n")
