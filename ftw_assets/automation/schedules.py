"""The fill schedule: every day (off until enabled) it asks for runs over the chip-year partitions
that are missing or failed, batched like backfills (contiguous chip ranges, 100 chip-years a run)."""

import dagster as dg

from ftw_assets import pipeline
from ftw_assets.core.dataset.stages import Stages
from ftw_assets.resources import DatasetResource


@dg.schedule(name="fill_missing_chip_years", cron_schedule="0 3 * * *", default_status=dg.DefaultScheduleStatus.STOPPED,
             target=pipeline.chip_year_assets(),
             description="Daily: runs for the chip-years that are missing or failed, 100 per run.")
def fill_missing_chip_years(context: dg.ScheduleEvaluationContext, dataset: DatasetResource):
    when = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
    plan = pipeline.fill_plan(context.instance, Stages.of(dataset.layout().output_dir))
    if not plan:
        return dg.SkipReason("every chip-year is materialized")
    return pipeline.run_requests(plan, pipeline.FILL_TRIGGER, f"fill:{when}")
