"""The re-selection sensor: when cloud refinement rejects a chip's scene, select again for exactly
those chip-years (the rejected scenes excluded), then redo what follows the selection.

It leaves the rejections of runs whose ``ftwd`` re-selects for them itself (tag ``ftw/reselected_by=ftwd``:
a build with refinement on) to that ``ftwd``, which reads them from the state, also on its rerun after a
crash. A daemon that sees those runs (a deployment, or ``ftwd ui``) would otherwise start the same
re-selection at the same time. ``--no-reselect`` runs carry no such tag: the sensor re-selects for them."""

import dagster as dg

from ftw_assets import pipeline
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.stages import Stages
from ftw_assets.core.scenes.refinement import RefinementSettings, reselection_targets
from ftw_assets.defs import selected_scenes
from ftw_assets.resources import DatasetResource


@dg.sensor(name="reselect_cloudy_chips", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           asset_selection=pipeline.downstream([selected_scenes.key], pipeline.chip_year_assets()),
           description="Selects scenes again for the chip-years whose scene cloud refinement rejected.")
def reselect_cloudy_chips(context: dg.SensorEvaluationContext, dataset: DatasetResource) -> dg.SensorResult:
    events, last = pipeline.refinement_events(context.instance, int(context.cursor or 0), leave_to_ftwd=True)
    if not events:  # the cursor moves past refinements left to their ftwd
        return dg.SensorResult(skip_reason="no new cloud refinement outside ftwd's own re-selection",
                               cursor=str(last))
    output_dir = dataset.layout().output_dir
    targets, capped = reselection_targets(events, RefinementSettings.load(output_dir).max_attempts)
    plan = pipeline.reselection_plan(context.instance, [ChipYear.parse(t) for t in targets], Stages.of(output_dir))
    if capped:
        context.log.info(f"attempts used up, not selected again: {', '.join(capped)}")
    return dg.SensorResult(run_requests=pipeline.run_requests(plan, pipeline.RESELECT_TRIGGER, f"reselect:{last}"),
                           cursor=str(last))
