"""``make cluster-demo``: the demo dataset through a deployment on namespace hosts (see :mod:`.demo`).

Options: ``--no-netns`` (everything on 127.0.0.1), ``--no-kill`` (no worker killed), ``--keep DIR`` (build there
and keep the datasets). Exits 1 when a check fails (:func:`checks`): a failed build, runs not spread over both
workers, no retry after the kill, a file that differs from the in-process build, or a step of the Ctrl-C, the UI
backfill, the sensor or the schedule that did not go as it should.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ftw_assets_tests.cluster import demo
from ftw_assets_tests.cluster.harness import missing


WORKERS = {"w0", "w1"}


def _on_workers(runs: list[dict]) -> set[str]:
    return {r["worker"].split(":")[0] for r in runs}


def checks(result: demo.Result, kill: bool) -> list[str]:
    """What is wrong with a scenario's result (nothing: an empty list)."""
    problems = []
    if len(result.workers) < 2:
        problems.append(f"runs did not spread over both workers: {sorted(result.workers)}")
    if kill and not result.killed:
        problems.append("no worker was killed mid-run")
    if kill and not result.retried:
        problems.append("the killed worker's run was not retried")
    if result.differences:
        problems.append(f"{len(result.differences)} file(s) differ from the in-process build")
    # Ctrl-C of the deployed ftwd: exit 130 and the summary; in its setup the run in flight finishes and no
    # chip-year run is submitted; with chip-year runs queued they are cancelled and the started ones finish.
    out = getattr(result.interrupted_setup, "stdout", "")
    if getattr(result.interrupted_setup, "returncode", None) != 130 or \
            f"Interrupted after 2 run(s); {demo.CHIP_YEARS} chip-year(s) still need work." not in out or \
            [(r["assets"], r["status"]) for r in result.interrupted_setup_runs] != [
                ("field_boundaries", "SUCCESS"), ("chip_registry", "SUCCESS")]:
        problems.append(f"the ftwd interrupted in its setup did not finish its run in flight and stop: "
                        f"{result.interrupted_setup_runs} {out[-500:]}")
    out = getattr(result.interrupted, "stdout", "")
    if getattr(result.interrupted, "returncode", None) != 130 or "Interrupted after" not in out:
        problems.append(f"the interrupted ftwd did not exit 130 with its summary: {out[-500:]}")
    chip_year_runs = [r for r in result.interrupted_runs if r["range"]]
    done = sum(r["status"] == "SUCCESS" for r in chip_year_runs)
    left = demo.CHIP_YEARS - len(result.backfill.get("partitions", [])) - done
    # The runs cancelled in the queue never started: not counted (as in-process), only the ones that finished.
    if f"Interrupted after {done} run(s); {left} chip-year(s) still need work. Run the same command again" \
            not in out:
        problems.append(f"the interrupted ftwd's summary does not say {done} runs ran and {left} chip-years are "
                        f"left: {out[-500:]}")
    if not done or not any(r["status"] == "CANCELED" for r in chip_year_runs) or \
            {r["status"] for r in chip_year_runs} - {"SUCCESS", "CANCELED"}:
        problems.append(f"the interrupted ftwd's runs are not finished and cancelled ones: {chip_year_runs}")
    if result.left_active:
        problems.append(f"runs left queued or started: {result.left_active}")
    # The UI backfill through the launcher, and the sensor's re-selection of what it rejected.
    if result.backfill.get("status") != "COMPLETED_SUCCESS" or not result.backfill_runs or \
            any(r["status"] != "SUCCESS" or not r["tile"] or r["queue"] == "?" for r in result.backfill_runs):
        problems.append(f"the UI backfill did not complete through the launcher: {result.backfill} "
                        f"{result.backfill_runs}")
    if _on_workers(result.backfill_runs) != WORKERS:
        problems.append(f"the backfill's runs did not run on both workers: {result.backfill_runs}")
    sensor = result.sensor_runs
    if len(sensor) != 1 or sensor[0]["status"] != "SUCCESS" or sensor[0]["trigger"] != "cloud-refinement" or \
            sensor[0]["range"] != f"{demo.CLOUDY}..{demo.CLOUDY}" or not _on_workers(sensor) <= WORKERS:
        problems.append(f"not one successful run of the sensor for {demo.CLOUDY} on a worker: {sensor}")
    made = [(r["by"].split()[0], bool(r["rejected"])) for r in result.refinements]
    if made != [("backfill", True), ("sensor", False)]:
        problems.append(f"{demo.CLOUDY}'s refinements are not the backfill's rejection then the sensor's "
                        f"acceptance: {result.refinements}")
    # The schedule's tick through the launcher, and what it wrote.
    if not result.schedule_tick.startswith("SUCCESS") or not result.schedule_runs or \
            any(r["status"] != "SUCCESS" or r["trigger"] != "fill-schedule" for r in result.schedule_runs) or \
            not _on_workers(result.schedule_runs) <= WORKERS:
        problems.append(f"the schedule's tick did not run on a worker: {result.schedule_tick} "
                        f"{result.schedule_runs}")
    if result.differences_second_year:
        problems.append(f"{len(result.differences_second_year)} file(s) differ from the in-process build once "
                        f"{demo.SECOND_YEAR} is added")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ftw_assets_tests.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--no-netns", action="store_true")
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    reason = None if args.no_netns else missing()
    if reason:
        sys.exit(f"cluster-demo: {reason} (--no-netns runs it on 127.0.0.1)")
    result = demo.run(args.keep, netns=not args.no_netns, kill=None if args.no_kill else "w0")
    problems = checks(result, not args.no_kill)
    for problem in problems:
        print(f"FAILED: {problem}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
