"""The fill schedule: every day (off until enabled) it asks for runs over the chip-year partitions
that are missing or failed, batched like backfills (contiguous chip ranges, 100 chip-years a run)."""

import dagster as dg

from ftw_assets.defs.scenes.calendar import crop_calendar
from ftw_assets.defs.catalog.assets import stac_catalog
from ftw_assets.defs.chips.assets import chip_grid
from ftw_assets.core.raster.clip import IMAGES_FILE
from ftw_assets.core.scenes.refinement import REFINEMENT_FILE
from ftw_assets.core.scenes.selection import SELECTION_FILE
from ftw_assets.defs.images.assets import clipped_images
from ftw_assets.defs.masks.assets import masks
from ftw_assets.defs.refinement.assets import cloud_refinement
from ftw_assets.resources import DatasetResource
from ftw_assets.runner import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, fill_plan
from ftw_assets.defs.scenes.selection import selected_scenes

FILL_TAG = "ftw/trigger"


def dataset_chain(output_dir) -> list[dg.AssetKey]:
    """The chip-year assets this dataset was configured for (its options files say which)."""
    chain = [chip_grid.key, masks.key]
    if (output_dir / SELECTION_FILE).exists():
        chain += [crop_calendar.key, selected_scenes.key]
        if (output_dir / IMAGES_FILE).exists():
            chain.append(clipped_images.key)
        if (output_dir / REFINEMENT_FILE).exists():
            chain.append(cloud_refinement.key)
    return chain + [stac_catalog.key]


@dg.schedule(name="fill_missing_chip_years", cron_schedule="0 3 * * *", default_status=dg.DefaultScheduleStatus.STOPPED,
             target=[chip_grid, masks, crop_calendar, selected_scenes, clipped_images, cloud_refinement, stac_catalog],
             description="Daily: runs for the chip-years that are missing or failed, 100 per run.")
def fill_missing_chip_years(context: dg.ScheduleEvaluationContext, dataset: DatasetResource):
    when = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
    plan = fill_plan(context.instance, dataset_chain(dataset.layout().output_dir))
    if not plan:
        return dg.SkipReason("every chip-year is materialized")
    return [
        dg.RunRequest(asset_selection=assets, run_key=f"fill:{first}:{last}:{when}",
                      tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last,
                            FILL_TAG: "fill-schedule", "ftw/chip_years": str(n)})
        for assets, first, last, n in plan
    ]
