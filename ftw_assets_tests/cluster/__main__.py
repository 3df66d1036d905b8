"""``make cluster-demo``: the demo dataset through a deployment on namespace hosts (see :mod:`.demo`).

Options: ``--no-netns`` (everything on 127.0.0.1), ``--no-kill`` (no worker killed), ``--keep DIR`` (build there
and keep the datasets). Exits 1 when a check fails: a failed build, runs not spread over both workers, no retry
after the kill, or a file that differs from the in-process build.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ftw_assets_tests.cluster import demo
from ftw_assets_tests.cluster.harness import missing


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
