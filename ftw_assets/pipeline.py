"""Which assets run, in what order, for a dataset: the one owner of the stage chains.

The chains come from the asset graph (``defs/``): the chip-year assets in dependency order, kept when
their stage is on for the dataset (:class:`~ftw_assets.core.dataset.stages.Stages`, read from its
options files). A chip-year missing one asset reruns that asset and its downstream assets in the
chain, nothing else. ``ftwd`` (in-process), the fill schedule and the re-selection sensor all plan
their runs here; :mod:`ftw_assets.runner` executes them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ftw_assets import runner
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.stages import ASSET_STAGES, Stages
from ftw_assets.defs import ASSETS, SENSOR_CHECKS, clipped_image_checks, cloud_refinement, selected_scenes
from ftw_assets.instance import open_instance
from ftw_assets.partitions import CHIPS_PER_RUN

# The stage that turns each chip-year asset on (named in core.dataset.stages; chain() checks the graph).
STAGE_OF = {dg.AssetKey(name): stage for name, stage in ASSET_STAGES.items()}
TRIGGER_TAG = "ftw/trigger"
RESELECT_TRIGGER = "cloud-refinement"
# On a run whose launcher re-selects for its rejections itself (an ftwd build with refinement on): the
# daemon's sensor leaves those to it, instead of asking for the same re-selection at the same time.
RESELECTED_BY_TAG = "ftw/reselected_by"
FILL_TRIGGER = "fill-schedule"


@lru_cache(maxsize=1)
def asset_graph() -> AssetGraph:
    return AssetGraph.from_assets(ASSETS)


def chip_year_assets() -> list[dg.AssetKey]:
    """Every chip-year (partitioned) asset, in dependency order."""
    graph = asset_graph()
    return [k for k in graph.toposorted_asset_keys if graph.get(k).partitions_def is not None]


def setup_assets() -> list[dg.AssetKey]:
    """The unpartitioned assets the chip-year assets need first (the fields, the chip registry)."""
    graph = asset_graph()
    upstream = dg.AssetSelection.assets(*chip_year_assets()).upstream().resolve(graph)
    return [k for k in graph.toposorted_asset_keys if k in upstream and graph.get(k).partitions_def is None]


def chain(stages: Stages) -> list[dg.AssetKey]:
    """The chip-year assets this dataset runs, in dependency order."""
    # A new chip-year asset must name its stage in ASSET_STAGES, and that table no other asset.
    assert set(chip_year_assets()) == set(STAGE_OF), set(chip_year_assets()) ^ set(STAGE_OF)
    return [k for k in chip_year_assets() if stages.enabled(STAGE_OF[k])]


def downstream(keys: Iterable[dg.AssetKey], within: list[dg.AssetKey]) -> list[dg.AssetKey]:
    """``keys`` and everything downstream of them, limited to the chain ``within``, in its order."""
    reached = dg.AssetSelection.assets(*keys).downstream().resolve(asset_graph())
    return [k for k in within if k in reached]


def reselection_chain(stages: Stages) -> list[dg.AssetKey]:
    """What a re-selection redoes: the selection and everything after it (refinement included)."""
    return downstream([selected_scenes.key], chain(stages.with_(select=True, refine=True)))


def checks_for(stages: Stages) -> tuple[dg.AssetCheckKey, ...]:
    """The asset checks that scan the dataset after the runs: the image checks when images are on, and
    those of each of the dataset's other sensors."""
    if not stages.download:
        return ()
    return tuple(clipped_image_checks.check_keys) + tuple(
        k for sensor in stages.sensors for k in SENSOR_CHECKS[sensor].check_keys)


def fill_plan(instance: dg.DagsterInstance, stages: Stages, batch: int = CHIPS_PER_RUN,
              chips: list[str] | None = None) -> list[runner.PlannedRun]:
    """Runs for the chip-years whose chain is missing or failed (the schedule and a UI backfill), over
    ``chips`` (default: every chip partition)."""
    return runner.missing_plan(instance, chain(stages), batch, closure=_closure(chain(stages)), chips=chips)


def reselection_plan(instance: dg.DagsterInstance, targets: Iterable[ChipYear], stages: Stages,
                     batch: int = CHIPS_PER_RUN) -> list[runner.PlannedRun]:
    """Runs over contiguous ranges of the targeted chip-years (registration order), many per run."""
    return runner.targets_plan(instance, targets, reselection_chain(stages), batch)


def run_requests(plan: list[runner.PlannedRun], trigger: str, run_key: str) -> list[dg.RunRequest]:
    """One request per planned run: a range of chip-year partitions in one run, as backfills batch them."""
    return [
        # No checks: they scan the whole dataset, once after the chip-year runs (a request's default is every
        # check of its assets).
        dg.RunRequest(asset_selection=run.assets, asset_check_keys=[], run_key=f"{run_key}:{run.first}:{run.last}",
                      tags={ASSET_PARTITION_RANGE_START_TAG: run.first, ASSET_PARTITION_RANGE_END_TAG: run.last,
                            TRIGGER_TAG: trigger, "ftw/chip_years": str(run.count)})
        for run in plan
    ]


def _closure(keys: list[dg.AssetKey]) -> dict[dg.AssetKey, list[dg.AssetKey]]:
    return {k: downstream([k], keys) for k in keys}


def materialize_dataset(
    output_dir: Path,
    stages: Stages | None = None,
    *,
    redo: Iterable[str] = (),
    after: Iterable[dg.AssetKey] = (),
    chips_per_run: int | None = None,
    processes: int | None = None,
    reselect: bool = True,
    echo: Callable[[str], None] = print,
    progress: runner.Progress | None = None,
) -> runner.Summary:
    """What every ``ftwd`` command does: the setup assets, then the missing chip-years of the dataset's
    chain in batched in-process runs, then ``after`` (unpartitioned reports) and the checks; with
    refinement on, the re-selection loop the sensor runs in the UI (unless ``reselect`` is False)
    before the checks.

    ``stages``: default, what the dataset's options files turn on. ``redo``: stages whose assets are
    done again for every chip-year (their options changed). ``progress``: told about the chip-year runs
    (default: one ``echo`` line per run). Chip partitions that are not in the chip table are left out.
    ``processes``: runs at a time, each in a worker process (default: one per core, at most four, and
    none for fewer than ``parallel.MIN_PARALLEL_CHIP_YEARS`` chip-years to do).

    Ctrl-C (from the main thread) stops it between chip-years: the summary is marked interrupted,
    with the chip-years still needing work read from the instance; re-selection and checks are left
    for the rerun."""
    import os

    from ftw_assets.definitions import build_defs
    from ftw_assets.parallel import DEFAULT_PROCESSES, MIN_PARALLEL_CHIP_YEARS, workers

    output_dir = Path(output_dir).resolve()
    chosen, processes = processes, processes or DEFAULT_PROCESSES
    os.environ["FTW_OUTPUT_DIR"] = str(output_dir)  # anything that builds the definitions again sees this dataset
    stages = stages or Stages.of(output_dir)
    keys = chain(stages)
    loop, checks = stages.refine and reselect, checks_for(stages)
    own = {RESELECTED_BY_TAG: "ftwd"} if loop else {}
    layout = runner.dataset_layout(output_dir)
    defs, instance = build_defs(output_dir), open_instance(layout)
    with runner.stop_on_ctrl_c(), workers(output_dir, processes if not runner.deployed(instance) else 1,
                                          images=stages.download,
                                          start=chosen is not None or _large(output_dir, instance)) as pool:
        summary = runner.materialize_missing(
            defs, instance, unpartitioned=setup_assets(), partitioned=keys,
            redo=tuple(k for k in keys if STAGE_OF[k] in set(redo)),
            closure=_closure(keys), checks=() if loop else checks,
            batch=chips_per_run or CHIPS_PER_RUN, echo=echo, after=list(after),
            chip_table=layout.chips_parquet, progress=progress, processes=processes,
            balance=chips_per_run is None, tags=own, min_parallel=0 if chosen else MIN_PARALLEL_CHIP_YEARS,
        )
        if pool is not None and not pool.started:
            processes = 1  # the build was small: its re-selection rounds, smaller still, stay here too
        if loop and not summary.failed and not runner.stopped():
            from ftw_assets.core.scenes.refinement import RefinementSettings

            max_attempts = RefinementSettings.load(output_dir).max_attempts
            summary.runs += reselect_runs(output_dir, stages, max_attempts, echo, progress, processes, own)
        # The checks scan what re-selection left (it replaces rejected, e.g. blank, images).
        if loop and checks and not runner.stopped():
            summary.runs.append(runner.run_checks(defs, instance, checks, echo))
        if runner.stopped():
            summary.interrupted = True
            known, _ = runner.chips_in_table(instance, layout.chips_parquet)
            summary.remaining = sum(run.count for run in fill_plan(instance, stages, chips=known))
        elif summary.partitions_run:
            # What this build added goes into Dagster's status cache now, once per asset: the next
            # `ftwd status` or UI visit reads the cache instead of every event since.
            from ftw_assets.status import warm_status_cache

            warm_status_cache(instance, keys)
    return summary


def _large(output_dir: Path, instance: dg.DagsterInstance) -> bool:
    """Whether the build may have enough chip-years to do that its workers should start at once
    (``parallel.start_early``): from the chips and years registered, else the parcels in the fields."""
    from ftw_assets.core.dataset.settings import DatasetSettings
    from ftw_assets.core.geometry.fields import parcel_count
    from ftw_assets.parallel import start_early
    from ftw_assets.partitions import CHIPS, YEARS

    chips, years = len(instance.get_dynamic_partitions(CHIPS)), len(instance.get_dynamic_partitions(YEARS))
    if chips:
        return start_early(chips, years, None)
    settings = DatasetSettings.load(output_dir)
    return start_early(0, 1, parcel_count(settings.fields, settings.layer))


def still_rejected(instance: dg.DagsterInstance) -> list[tuple[str, dict]]:
    """(partition key, {season: rejections so far}) of each chip-year's latest cloud_refinement
    materialization: what is rejected now, whichever command, crash or ``--no-reselect`` came between."""
    events, _ = refinement_events(instance, 0)
    return sorted(dict(events).items())  # ascending storage ids: the latest per chip-year wins


def refinement_events(instance: dg.DagsterInstance, after: int,
                      leave_to_ftwd: bool = False) -> tuple[list[tuple[str, dict]], int]:
    """(partition key, {season: rejections so far}) of every cloud_refinement materialization after
    storage id ``after``, paged through the instance's records API; and the last storage id seen.
    ``leave_to_ftwd``: without those of runs whose ftwd re-selects for them itself (:data:`RESELECTED_BY_TAG`)."""
    events, cursor, last = [], None, after
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=cloud_refinement.key, after_storage_id=after), limit=5000,
            cursor=cursor, ascending=True,
        )
        theirs = set()
        if leave_to_ftwd:
            run_ids = list({record.run_id for record in page.records if record.run_id})
            theirs = set(instance.get_run_ids(dg.RunsFilter(run_ids=run_ids, tags={RESELECTED_BY_TAG: "ftwd"}))) \
                if run_ids else set()
        for record in page.records:
            last = max(last, record.storage_id)
            if record.run_id in theirs:
                continue
            rejected = record.asset_materialization.metadata.get("rejected")
            events.append((record.partition_key, rejected.data if rejected is not None else {}))
        if not page.has_more:
            return events, last
        cursor = page.cursor


def reselect_runs(output_dir: Path, stages: Stages, max_attempts: int,
                  echo: Callable[[str], None] = print,
                  progress: runner.Progress | None = None, processes: int = 1,
                  tags: dict | None = None) -> list[runner.RunOutcome]:
    """The re-selection sensor's loop, in-process: select again for the chip-years whose latest
    refinement rejected a scene, until none is left or attempts are used up; stops at the first
    failed round or at Ctrl-C. Read from the state, not from new events, so a rerun after a crash or an
    interruption finishes it. ``tags``: added to its runs."""
    from ftw_assets.core.scenes.refinement import reselection_targets
    from ftw_assets.definitions import build_defs

    instance = open_instance(runner.dataset_layout(output_dir))
    defs = build_defs(output_dir)
    outcomes: list[runner.RunOutcome] = []
    for _ in range(max_attempts + 2):  # each round re-selects what the previous round rejected
        targets, _ = reselection_targets(still_rejected(instance), max_attempts)
        if not targets or runner.stopped():
            break
        echo(f"selecting again for {len(targets)} chip-year(s) whose scene was rejected: {', '.join(targets[:10])}")
        plan = reselection_plan(instance, [ChipYear.parse(t) for t in targets], stages)
        outcomes += runner.execute_plan(defs, instance, plan, echo, tags={TRIGGER_TAG: RESELECT_TRIGGER, **(tags or {})},
                                        progress=progress, processes=processes)
        if any(not o.success for o in outcomes):
            break
    return outcomes
