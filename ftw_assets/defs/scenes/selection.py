"""selected_scenes: for each chip-year, the planting and the harvest scene, as STAC child items."""

import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from ftw_assets.batch import for_each_chip_year, chip_years
from ftw_assets.defs.scenes.calendar import crop_calendar
from ftw_assets.core.atomic import write_text
from ftw_assets.core.scenes.calendar import CalendarDays
from ftw_assets.core.errors import FtwError
from ftw_assets.core.geometry.grid import grid_for_chip, read_chip_table
from ftw_assets.core.dataset.records import CALENDAR_RECORD, SELECTION_RECORD, all_records, read_record, write_record
from ftw_assets.core.scenes.selection import SEASONS, SelectionSettings, selection_report
from ftw_assets.core.scenes.model import scene_to_dict
from ftw_assets.core.scenes.refinement import RefinementSettings, rejections
from ftw_assets.core.scenes.selector import ChipYear, select_batch
from ftw_assets.core.stac.items import item_dict, season_item, write_item
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets.partitions import chip_year_backfill, chip_year_partitions
from ftw_assets.resources import DatasetResource
from ftw_assets.resources import STAC_POOL, SceneSourceResource
from ftw_assets.defs.scenes.config import SelectionConfig


@dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill, deps=[crop_calendar],
          group_name="scenes", kinds={"stac"}, pool=STAC_POOL)
def selected_scenes(context: dg.AssetExecutionContext, config: SelectionConfig, dataset: DatasetResource,
                    scene_source: SceneSourceResource, duckdb: DuckDBResource) -> None:
    """Search once per MGRS tile x season window, measure the chips' windows grouped by scene, and write
    ``{chip}_{year}_{season}_s2.json`` for each chosen scene; the run's report goes to the catalog folder."""
    settings, layout = dataset.settings(), dataset.layout()
    selection = config.apply(SelectionSettings.load(layout.output_dir, settings.stac_host, settings.collection))
    source = scene_source.open_for_selection(selection)
    chips = read_chip_table(layout.chips_parquet)
    batch, calendars = [], {}
    for chip, year in chip_years(context):
        calendars[(chip, year)] = read_record(layout, chip, year, CALENDAR_RECORD)
        cal = calendars[(chip, year)]
        if cal and "skipped" not in cal:
            days = CalendarDays(cal["planting_day"], cal["harvest_day"], cal["calendar_source"], cal["calendar_distance_km"])
            row = chips.loc[chip]
            batch.append(ChipYear(chip, year, row["mgrs_tile"], grid_for_chip(row, settings.chip_size_px), days))
    with duckdb.get_connection() as conn:  # scenes cloud refinement rejected for these chips
        excluded = rejections(conn, chip_years(context))
    refine = RefinementSettings.load(layout.output_dir)
    try:
        result = select_batch(batch, selection, source, excluded=excluded, max_rejections=refine.max_attempts)
    except FtwError as exc:  # the search or reads failed for the whole batch: record it per chip-year
        for chip, year in chip_years(context):
            write_record(layout, chip, year, SELECTION_RECORD, {"status": "failed", "error": str(exc), "seasons": {}})
        write_text(layout.selection_report, json.dumps(selection_report(all_records(layout, SELECTION_RECORD)), indent=2) + "\n")
        raise
    context.log.info(f"{result.searches} search(es) for {len(batch)} chip-years; {result.reads} chip windows read "
                     f"from {result.scenes_opened} scene(s); {source.retries} retries")

    def work(chip: str, year: int) -> dict:
        cal = calendars[(chip, year)]
        if cal is None:
            raise FtwError(f"no crop calendar record for {chip}|{year}: materialize crop_calendar for it first")
        record = {"source": source.describe(), "settings": selection.stac_properties(), "seasons": {}}
        if "skipped" in cal:
            return _missing(layout, chip, year, record, selection, f"no crop calendar value: {cal['skipped']}")
        grid = grid_for_chip(chips.loc[chip], settings.chip_size_px)
        meta = {"searches_in_run": result.searches}
        for season in SEASONS:
            decision = result.decisions[(chip, year, season)]
            path = layout.season_item_json(chip, year, season)
            if decision.chosen is None:
                record["seasons"][season] = {"reason": decision.reason, "candidates_checked": decision.candidates_checked,
                                             "relaxed": decision.relaxed}
                _forget_season(layout, chip, year, season)  # an earlier choice no longer holds
                continue
            item = season_item(chip, year, grid, decision, {}, source.describe(), source.item_href(decision.chosen.scene),
                               include_alternatives=selection.include_alternatives, pixel_check=selection.pixel_check)
            item.collection_id = f"{layout.name}-chips"
            validate_stac(item_dict(item))
            write_item(item, path)
            chosen = decision.chosen
            record["seasons"][season] = {
                "scene": scene_to_dict(chosen.scene),
                "scene_id": chosen.scene.id, "datetime": chosen.scene.datetime.isoformat(),
                "cloud_cover": chosen.cloud_cover(selection.pixel_check), "days_from_target": chosen.days_from_target,
                "candidates_checked": decision.candidates_checked, "relaxed": decision.relaxed,
            }
            meta[f"{season}_scene"] = chosen.scene.id
            meta[f"{season}_date"] = chosen.scene.datetime.date().isoformat()
            meta[f"{season}_cloud_cover"] = chosen.cloud_cover(selection.pixel_check)
            meta[f"{season}_candidates_checked"] = decision.candidates_checked
        missing = [f"{s}: {v['reason']}" for s, v in record["seasons"].items() if "scene_id" not in v]
        if missing and selection.on_missing == "fail":
            record.update(status="failed", error="; ".join(missing))
            write_record(layout, chip, year, SELECTION_RECORD, record)
            raise FtwError(f"no scene for {chip}|{year} ({'; '.join(missing)}); use --on-missing skip or "
                           "best-available, or widen --buffer-days / --cloud-cover-scene")
        record["status"] = "selected" if not missing else "partial"
        write_record(layout, chip, year, SELECTION_RECORD, record)
        return {**meta, **({"missing": "; ".join(missing)} if missing else {})}

    try:
        for_each_chip_year(context, work)
    finally:
        report = selection_report(all_records(layout, SELECTION_RECORD))
        write_text(layout.selection_report, json.dumps(report, indent=2) + "\n")


def _forget_season(layout, chip: str, year: int, season: str) -> None:
    """Remove a season's item and the image cut from its scene: no file may describe a dropped choice."""
    layout.season_item_json(chip, year, season).unlink(missing_ok=True)
    for suffix in ("image_s2.tif", "image_s2.png"):
        layout.chip_file(chip, year, f"{season}_{suffix}").unlink(missing_ok=True)


def _missing(layout, chip, year, record, selection, reason) -> dict:
    for season in SEASONS:
        _forget_season(layout, chip, year, season)
        record["seasons"][season] = {"reason": reason, "candidates_checked": 0}
    if selection.on_missing == "fail":
        record.update(status="failed", error=reason)
        write_record(layout, chip, year, SELECTION_RECORD, record)
        raise FtwError(f"no scene for {chip}|{year}: {reason}")
    record["status"] = "skipped"
    write_record(layout, chip, year, SELECTION_RECORD, record)
    return {"skipped": reason}
