"""The re-selection sensor: when cloud refinement rejects a chip's scene, select again for exactly
those chip-years (the rejected scenes excluded), then redo the images, refinement and catalog."""

import dagster as dg

from ftw_assets.defs.catalog.assets import stac_catalog
from ftw_assets.core.raster.clip import IMAGES_FILE
from ftw_assets.core.scenes.refinement import RefinementSettings, reselection_targets
from ftw_assets.defs.images.assets import clipped_images
from ftw_assets.partitions import CHIPS_PER_RUN
from ftw_assets.resources import DatasetResource
from ftw_assets.runner import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, chip_year_keys, plan_runs
from ftw_assets.defs.scenes.selection import selected_scenes
from ftw_assets.defs.refinement.assets import cloud_refinement

RESELECT_TAG = "ftw/trigger"


def refinement_events(instance: dg.DagsterInstance, after: int) -> tuple[list[tuple[str, dict]], int]:
    """(partition key, {season: rejections so far}) of every cloud_refinement materialization after
    storage id ``after``, paged through the instance's records API; and the last storage id seen."""
    events, cursor, last = [], None, after
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=cloud_refinement.key, after_storage_id=after), limit=5000,
            cursor=cursor, ascending=True,
        )
        for record in page.records:
            rejected = record.asset_materialization.metadata.get("rejected")
            events.append((record.partition_key, rejected.data if rejected is not None else {}))
            last = max(last, record.storage_id)
        if not page.has_more:
            return events, last
        cursor = page.cursor


def reselection_chain(with_images: bool) -> list[dg.AssetKey]:
    images = [clipped_images.key] if with_images else []
    return [selected_scenes.key, *images, cloud_refinement.key, stac_catalog.key]


def reselection_runs(instance: dg.DagsterInstance, targets: list[str], chain: list[dg.AssetKey]):
    """Runs over contiguous ranges of the targeted chip-years (registration order), many per run."""
    chips, years = chip_year_keys(instance)
    wanted = set(targets)
    everything = {f"{c}|{y}" for c in chips for y in years}
    done = {a: everything - wanted for a in chain}
    return plan_runs(chips, years, chain, done, CHIPS_PER_RUN)


@dg.sensor(name="reselect_cloudy_chips", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           asset_selection=[selected_scenes, clipped_images, cloud_refinement, stac_catalog],
           description="Selects scenes again for the chip-years whose scene cloud refinement rejected.")
def reselect_cloudy_chips(context: dg.SensorEvaluationContext, dataset: DatasetResource) -> dg.SensorResult:
    events, last = refinement_events(context.instance, int(context.cursor or 0))
    if not events:
        return dg.SensorResult(skip_reason="no new cloud refinement")
    refine = RefinementSettings.load(dataset.layout().output_dir)
    targets, capped = reselection_targets(events, refine.max_attempts)
    chain = reselection_chain((dataset.layout().output_dir / IMAGES_FILE).exists())
    requests = [
        dg.RunRequest(
            asset_selection=assets, run_key=f"reselect:{first}:{last_key}:{last}",
            # A range of partitions in one run, as the backfill policy batches them.
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last_key,
                  RESELECT_TAG: "cloud-refinement", "ftw/chip_years": str(n)},
        )
        for assets, first, last_key, n in reselection_runs(context.instance, targets, chain)
    ]
    if capped:
        context.log.info(f"attempts used up, not selected again: {', '.join(capped)}")
    return dg.SensorResult(run_requests=requests, cursor=str(last))
