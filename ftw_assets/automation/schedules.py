"""The fill schedule: every day (off until enabled) it asks for runs over the chip-year partitions
that are missing or failed, batched like backfills (contiguous chip ranges, 100 chip-years a run).

It plans over the chips of the dataset's chip table only: a chip partition added by hand in the UI
(or left from an earlier chip table) would fail every day, so it is left out and named in the log."""

import dagster as dg

from ftw_assets import pipeline, runner
from ftw_assets.core.dataset.stages import Stages
from ftw_assets.resources import DatasetResource


@dg.schedule(name="fill_missing_chip_years", cron_schedule="0 3 * * *", default_status=dg.DefaultScheduleStatus.STOPPED,
             target=pipeline.chip_year_assets(),
             description="Daily: runs for the chip-years that are missing or failed, 100 per run, over the chips "
                         "of the dataset's chip table.")
def fill_missing_chip_years(context: dg.ScheduleEvaluationContext, dataset: DatasetResource):
    when = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
    layout = dataset.layout()
    chips, unknown = runner.chips_in_table(context.instance, layout.chips_parquet)
    if unknown:
        context.log.warning(runner.unknown_chips_message(unknown, layout.chips_parquet))
    plan = pipeline.fill_plan(context.instance, Stages.of(layout.output_dir), chips=chips)
    if not plan:
        left_out = f"; {len(unknown)} chip partition(s) not in the chip table left out" if unknown else ""
        return dg.SkipReason(f"every chip-year of the chip table is materialized{left_out}")
    return pipeline.run_requests(plan, pipeline.FILL_TRIGGER, f"fill:{when}")
