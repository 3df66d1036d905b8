"""selected_scenes: for each chip-year, the planting and the harvest scene, as STAC child items."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from ftw_assets.batch import for_each_chip_year, chip_years
from ftw_assets.defs.scenes.calendar import crop_calendar
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import CalendarRecord, SelectionRecord, load, save, update_report
from ftw_assets.core.errors import FtwError
from ftw_assets.core.geometry.grid import grid_for_chip, read_chip_table
from ftw_assets.core.scenes.selection import SELECTION_REPORT, SelectionSettings, season_files, selection_outcome
from ftw_assets.core.scenes.refinement import RefinementSettings, rejections
from ftw_assets.core.scenes.selector import SelectionRequest, select_batch
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
    calendars = {cy: load(layout, cy, CalendarRecord) for cy in chip_years(context)}
    batch = []
    for cy, calendar in calendars.items():
        days = calendar.days() if calendar else None
        if days:
            row = chips.loc[cy.chip]
            batch.append(SelectionRequest(cy.chip, cy.year, row["mgrs_tile"], grid_for_chip(row, settings.chip_size_px),
                                          days))
    with duckdb.get_connection() as conn:  # scenes cloud refinement rejected for these chips
        excluded = rejections(conn, chip_years(context))
    refine = RefinementSettings.load(layout.output_dir)
    try:
        result = select_batch(batch, selection, source, excluded=excluded, max_rejections=refine.max_attempts)
    except FtwError as exc:  # the search or reads failed for the whole batch: record it per chip-year
        for cy in chip_years(context):
            save(layout, cy, SelectionRecord("failed", error=str(exc)))
        update_report(layout, SELECTION_REPORT, chip_years(context))
        raise
    context.log.info(f"{result.searches} search(es) for {len(batch)} chip-years; {result.reads} chip windows read "
                     f"from {result.scenes_opened} scene(s); {source.retries} retries")

    def work(chip_year: ChipYear) -> dict:
        outcome = selection_outcome(chip_year, calendars[chip_year], result.decisions, selection, source.describe())
        for season in outcome.forget:  # an earlier choice no longer holds
            for path in season_files(layout, chip_year, season):
                path.unlink(missing_ok=True)
        grid = grid_for_chip(chips.loc[chip_year.chip], settings.chip_size_px)
        meta = {"searches_in_run": result.searches}
        for season, decision in outcome.chosen.items():
            item = season_item(chip_year.chip, chip_year.year, grid, decision, {}, source.describe(),
                               source.item_href(decision.chosen.scene),
                               include_alternatives=selection.include_alternatives, pixel_check=selection.pixel_check)
            item.collection_id = f"{layout.name}-chips"
            validate_stac(item_dict(item))
            write_item(item, layout.season_item_json(chip_year.chip, chip_year.year, season),
                       base_url=settings.base_url)
            chosen = outcome.record.seasons[season]
            meta[f"{season}_scene"] = chosen.scene_id
            meta[f"{season}_date"] = decision.chosen.scene.datetime.date().isoformat()
            meta[f"{season}_cloud_cover"] = chosen.cloud_cover
            meta[f"{season}_candidates_checked"] = chosen.candidates_checked
        save(layout, chip_year, outcome.record)
        if outcome.error:
            raise FtwError(outcome.error)
        if outcome.skipped:
            return {"skipped": outcome.skipped}
        return {**meta, **({"missing": "; ".join(outcome.missing)} if outcome.missing else {})}

    try:
        for_each_chip_year(context, work)
    finally:  # the run's chip-years' entries of the report, not every record
        update_report(layout, SELECTION_REPORT, chip_years(context))
