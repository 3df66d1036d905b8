"""crop_calendar: planting and harvest day of year for each chip-year, from the FTW crop calendar."""

import dagster as dg

from ftw_assets.batch import for_each_chip_year
from ftw_assets.defs.chips.assets import chip_grid
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import CalendarRecord, save
from ftw_assets.core.scenes.calendar import CropCalendar, NoCalendarValue
from ftw_assets.core.geometry.grid import grid_footprint, grid_for_chip, read_chip_table
from ftw_assets.core.scenes.selection import SelectionSettings
from ftw_assets.partitions import chip_year_backfill, chip_year_partitions
from ftw_assets.resources import DatasetResource


@dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill, deps=[chip_grid],
          group_name="scenes", kinds={"cog"})
def crop_calendar(context: dg.AssetExecutionContext, dataset: DatasetResource) -> None:
    """Look up each chip centre in the crop calendar (nearest valid pixel near coasts); chips with no
    value nearby are recorded as skipped with the reason, and selection skips them."""
    settings, layout = dataset.settings(), dataset.layout()
    selection = SelectionSettings.load(layout.output_dir, settings.stac_host, settings.collection)
    calendar = CropCalendar.open(selection.crop_calendar_dir, selection.calendar)  # a missing file fails the step once
    chips = read_chip_table(layout.chips_parquet)

    def work(chip_year: ChipYear) -> dict:
        centre = grid_footprint(grid_for_chip(chips.loc[chip_year.chip], settings.chip_size_px)).centroid
        record = CalendarRecord(selection.calendar, round(centre.x, 6), round(centre.y, 6), chip_year.year)
        try:
            days = calendar.lookup(centre.x, centre.y)
        except NoCalendarValue as exc:
            record.skipped = str(exc)
            save(layout, chip_year, record)
            return {"skipped": str(exc)}
        save(layout, chip_year, record.with_days(days))
        return {"planting_day": days.planting_day, "harvest_day": days.harvest_day, "source": days.source,
                "distance_km": days.distance_km}

    for_each_chip_year(context, work)
