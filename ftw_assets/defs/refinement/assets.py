"""cloud_refinement: each chip-season's cloud share measured on the chip's own pixels of its scene."""

import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from ftw_assets.batch import chip_years, for_each_chip_year
from ftw_assets.core.scenes import cloudstats
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import (ImagesRecord, RefinementRecord, SelectionRecord, load, save,
                                             update_report)
from ftw_assets.core.geometry.grid import grid_for_chip, read_chip_table
from ftw_assets.core.scenes.refinement import (REFINEMENT_REPORT, REJECTED, RefinementSettings, add_rejections,
                                               blank_reason, item_properties, outcome, rejections, season_refinement)
from ftw_assets.core.scenes.selection import SEASONS, SelectionSettings
from ftw_assets.core.stac.items import write_item
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets.partitions import chip_year_backfill, chip_year_partitions
from ftw_assets.resources import DatasetResource
from ftw_assets.resources import SceneSourceResource
from ftw_assets.defs.images.assets import clipped_images
from ftw_assets.defs.scenes.selection import selected_scenes


# After clipped_images when images are on: it reads their recorded pixel statistics, and both rewrite the item.
@dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill,
          deps=[selected_scenes, clipped_images], group_name="refinement", kinds={"duckdb"})
def cloud_refinement(context: dg.AssetExecutionContext, dataset: DatasetResource, scene_source: SceneSourceResource,
                     duckdb: DuckDBResource) -> None:
    """Read the chip window of each selected scene's SCL (3, 8, 9, 10) and cloud probability, write the
    chip-level ``eo:cloud_cover`` and the decision (``ftw:refinement_outcome``,
    ``ftw:rejected_scenes``) into the season item, and reject the scene for that chip-season
    (DuckDB ``rejected_scenes``) above ``--cloud-cover-pixel``, or when its clipped image is blank
    (from the per-band statistics clipped_images recorded: no extra read); the sensor then selects
    again."""
    settings, layout = dataset.settings(), dataset.layout()
    refine = RefinementSettings.load(layout.output_dir)
    source = scene_source.open_for_selection(SelectionSettings.load(layout.output_dir, settings.stac_host,
                                                                    settings.collection))
    chips = read_chip_table(layout.chips_parquet)
    wanted, scenes, blank = [], {}, set()
    for cy in chip_years(context):
        grid = grid_for_chip(chips.loc[cy.chip], settings.chip_size_px)
        record = load(layout, cy, SelectionRecord)
        images = load(layout, cy, ImagesRecord)
        for season, scene in (record.scenes() if record else {}).items():
            if layout.season_item_json(cy.chip, cy.year, season).exists():
                scenes[(cy.chip, cy.year, season)] = scene
                wanted.append(((cy.chip, cy.year, season), grid, scene, True))
                image = images.seasons.get(season) if images else None
                if image and image.status == "written" and image.scene_id == scene.id \
                        and blank_reason(image.nodata_share, image.bands or {}):
                    blank.add((cy.chip, cy.year, season))
    found = cloudstats.measure(wanted, refine.cloud_probability_threshold, source.href_for_read, source.policy)
    measured = {key: found[(key, scenes[key].id)] for key in scenes}
    rows = [(c, y, s, scenes[(c, y, s)].id, round(cloud * 100, 4), float(refine.cloud_cover_pixel))
            for (c, y, s), (nodata, cloud) in measured.items()
            if outcome(cloud, nodata, refine, (c, y, s) in blank) in REJECTED]
    with duckdb.get_connection() as conn:
        add_rejections(conn, rows)
        counts = rejections(conn, chip_years(context))

    def work(chip_year: ChipYear) -> dict:
        record = RefinementRecord(float(refine.cloud_cover_pixel))
        meta, rejected = {}, {}
        for season in SEASONS:
            key = (chip_year.chip, chip_year.year, season)
            if key not in measured:
                continue
            nodata, cloud = measured[key]
            entry = season_refinement(scenes[key].id, cloud, nodata, refine, len(counts.get(key, ())), key in blank)
            item_path = layout.season_item_json(chip_year.chip, chip_year.year, season)
            item = json.loads(item_path.read_text())
            item["properties"].update(item_properties(entry, counts.get(key, set())))
            validate_stac(item)
            write_item(item, item_path, base_url=settings.base_url)
            record.seasons[season] = entry
            meta[f"{season}_chip_cloud_cover"] = entry.cloud_cover  # on the chip's pixels, not the scene's
            meta[f"{season}_outcome"] = entry.outcome
            if entry.outcome in REJECTED:
                rejected[season] = entry.rejections
        save(layout, chip_year, record)
        # The sensor reads "rejected" ({season: rejections so far}) from this materialization.
        return {**meta, "threshold": record.threshold, "rejected": dg.MetadataValue.json(rejected)}

    try:
        for_each_chip_year(context, work)
    finally:  # the run's chip-years' entries of the report, not every record
        update_report(layout, REFINEMENT_REPORT, chip_years(context))
