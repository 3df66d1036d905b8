"""The images of the sensors beyond Sentinel-2, one chip-year asset per sensor, on the masks' grid:
Sentinel-1 and Landsat per planting/harvest window, the DEM and land cover once per chip-year.

Each run searches once per MGRS tile x window (:func:`~ftw_assets.core.sensors.choice.choose_batch`),
then writes every chip-year's images, thumbnails and child items
(:func:`~ftw_assets.core.sensors.images.write_sensor_season`). A season with no scene is recorded with
its reason, as Sentinel-2's are; a read that fails fails the chip-year.
"""

import dagster as dg

from ftw_assets.batch import CHIP_WORKERS, chip_years, for_each_chip_year
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import CalendarRecord, load
from ftw_assets.core.dataset.stages import SENSOR_ASSET_NAMES
from ftw_assets.core.errors import FtwError
from ftw_assets.core.geometry.grid import grid_for_chip, read_chip_table
from ftw_assets.core.scenes.selection import SelectionSettings
from ftw_assets.core.sensors.choice import SensorRequest, choose_batch
from ftw_assets.core.sensors.config import sensor_config
from ftw_assets.core.sensors.images import forget_season, save_record, write_sensor_season
from ftw_assets.core.sensors.search import open_sensor_source
from ftw_assets.defs.chips.assets import chip_grid
from ftw_assets.defs.scenes.calendar import crop_calendar
from ftw_assets.partitions import chip_year_backfill, chip_year_partitions
from ftw_assets.resources import STAC_POOL, DatasetResource, SceneSourceResource

ASSET_NAMES = SENSOR_ASSET_NAMES  # sensor -> asset name


def sensor_asset(sensor: str) -> dg.AssetsDefinition:
    seasonal = sensor_config(sensor).seasonal  # per planting/harvest window: needs the crop calendar

    @dg.asset(name=ASSET_NAMES[sensor], partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill,
              deps=[crop_calendar] if seasonal else [chip_grid], group_name="sensors", kinds={"cog", "stac"},
              pool=STAC_POOL, description=f"The {sensor} images of each chip-year on the masks' grid, with thumbnails "
                                          f"and child items (create-dataset --sensors ...,{sensor} --download-images).")
    def _images(context: dg.AssetExecutionContext, dataset: DatasetResource,
                scene_source: SceneSourceResource) -> None:
        settings, layout = dataset.settings(), dataset.layout()
        policy = scene_source.policy()
        source = open_sensor_source(scene_source.stac_host or settings.stac_host, sensor, policy)
        selection = SelectionSettings.load(layout.output_dir, settings.stac_host, settings.collection)
        chips = read_chip_table(layout.chips_parquet)
        requests = []
        for cy in chip_years(context):
            calendar = load(layout, cy, CalendarRecord) if seasonal else None
            row = chips.loc[cy.chip]
            requests.append(SensorRequest(cy.chip, cy.year, row["mgrs_tile"], grid_for_chip(row, settings.chip_size_px),
                                          calendar.days() if calendar else None))
        batch = choose_batch(requests, sensor, source, selection.buffer_days, source.href_for_read, policy)
        context.log.info(f"{batch.searches} {sensor} search(es) of {source.describe()} for {len(requests)} "
                         f"chip-years; {len(batch.rejected)} item(s) skipped")
        by_key = {(r.chip, r.year): r for r in requests}

        def work(chip_year: ChipYear) -> dict:
            request = by_key[(chip_year.chip, chip_year.year)]
            seasons, meta = {}, {}
            for (chip, year, season), choice in batch.choices.items():
                if (chip, year) != (chip_year.chip, chip_year.year):
                    continue
                if not choice.chosen:
                    forget_season(layout, chip_year, sensor, season)
                    seasons[season] = {**choice.summary(), "status": "missing"}
                    meta[f"{season}_missing"] = choice.reason
                    continue
                entry = write_sensor_season(layout, chip_year, request.grid, sensor, choice, source.describe(),
                                            source.item_href, source.href_for_read, policy, settings.base_url,
                                            f"{layout.name}-chips")
                seasons[season] = entry
                meta[f"{season}_scenes"] = ", ".join(entry["scene_ids"])
                meta[f"{season}_nodata_share"] = entry["nodata_share"]
                for key in ("orbit_state", "backscatter", "unusable_share", "days_from_target"):
                    if key in entry:
                        meta[f"{season}_{key}"] = entry[key]
            save_record(layout, chip_year, sensor, seasons)
            if not seasons:
                raise FtwError(f"{chip_year}: no {sensor} season was chosen or recorded")
            return meta

        for_each_chip_year(context, work, workers=CHIP_WORKERS)

    return _images


SENSOR_ASSETS = {sensor: sensor_asset(sensor) for sensor in ASSET_NAMES}
