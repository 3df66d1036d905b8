"""The deployment's code location: the project's Definitions with the in-process executor, so every run of a
deployment executes in one process on its Celery worker, whoever launched it.

Why: a run executes inside a Celery pool process, which is daemonic; Dagster's default executor
(``multi_or_in_process_executor``) starts a process per step, and a daemonic process may not have children
("AssertionError: daemonic processes are not allowed to have children"). ``ftwd`` names the in-process
executor in its runs' config, but the runs of the daemon's sensor and schedule and of UI backfills come with
the job's default, and each of them failed on every worker. With the executor here, a run from anywhere
executes as ``ftwd``'s do: one process, its block cache serving its chips.

``workspace.yaml`` (:func:`ftw_assets.deploy.config.write_deployment`) and ``ftwd``'s submitter
(:mod:`ftw_assets.deploy.submit`) load this module; ``ftwd`` in-process, ``ftwd ui`` and ``dagster dev`` keep
:mod:`ftw_assets.definitions`.
"""

from __future__ import annotations

import dagster as dg

from ftw_assets.definitions import build_defs

defs = dg.Definitions.merge(build_defs(), dg.Definitions(executor=dg.in_process_executor))
