"""Start a deployment's Celery worker on this host: ``python -m ftw_assets.deploy.worker``.

It checks what the worker needs (the deployment's broker and database answer, the shared dataset folder is
mounted here), then becomes ``dagster-celery worker start`` (dagster-celery's own CLI, which runs
``celery -A dagster_celery.app worker``) listening on its tile shard queues and the common queue, with
``DAGSTER_HOME`` (the deployment's dagster.yaml), ``FTW_OUTPUT_DIR`` (the dataset folder) and
``FTW_WORKER_NAME`` (recorded on each run it executes, tag ``ftw/worker``) in its environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path

from ftw_assets.core.errors import FtwError


def check_dataset_folder(output_dir: Path, wanted: str | None = None) -> None:
    """The dataset folder must be visible on this host (the shared filesystem mounted at the same path) and be
    the one the run is for."""
    output_dir = Path(output_dir)
    host = socket.gethostname()
    if wanted and Path(wanted).resolve() != output_dir.resolve():
        raise FtwError(f"this worker ({host}) serves the dataset folder {output_dir}, but the run is for {wanted}: "
                       "start the worker with FTW_OUTPUT_DIR set to the run's dataset folder")
    if not (output_dir / "dataset.json").is_file():
        raise FtwError(f"the dataset folder {output_dir} is not visible on this worker's host ({host}): no "
                       f"{output_dir / 'dataset.json'}. Mount the shared dataset folder (NFS/EFS) at the same "
                       "path on every host.")


def worker_command(instance: Path, name: str, queues: list[str], concurrency: int, loglevel: str = "INFO") -> list:
    from ftw_assets.deploy.config import CELERY_YAML, COMMON_QUEUE

    exe = shutil.which("dagster-celery", path=str(Path(sys.executable).parent)) or "dagster-celery"
    args = [exe, "worker", "start", "-A", "dagster_celery.app", "-y", str(Path(instance) / CELERY_YAML),
            "-n", name, "-l", loglevel]
    args += ["-q", ",".join([*queues, COMMON_QUEUE])]  # celery -Q takes one comma-separated list
    return args + ["--", f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"]


def main(argv: list[str] | None = None) -> None:
    from ftw_assets.deploy import preflight
    from ftw_assets.deploy.config import shard_queue

    parser = argparse.ArgumentParser(prog="python -m ftw_assets.deploy.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--instance", required=True, type=Path, help="the deployment's folder (its dagster.yaml)")
    parser.add_argument("--dataset", required=True, type=Path, help="the dataset folder, on the shared filesystem")
    parser.add_argument("--name", default=f"ftw-{socket.gethostname()}", help="the worker's name (unique)")
    parser.add_argument("--shard", type=int, action="append", default=[],
                        help="a tile shard this worker serves (repeatable; up to 3)")
    parser.add_argument("--concurrency", type=int, default=1, help="runs at a time on this worker")
    args = parser.parse_args(argv)
    try:
        preflight.check(args.instance)
        if not args.dataset.resolve().parent.is_dir():  # the dataset itself may not exist before its first run
            raise FtwError(f"{args.dataset.resolve().parent} (the folder of the dataset {args.dataset}) does not exist on "
                           f"this host ({socket.gethostname()}): mount the shared dataset filesystem (NFS/EFS) at the "
                           "same path on every host")
    except FtwError as err:
        sys.exit(f"ftw worker {args.name}: {err}")
    env = os.environ | {"DAGSTER_HOME": str(args.instance.resolve()), "FTW_OUTPUT_DIR": str(args.dataset.resolve()),
                        "FTW_WORKER_NAME": args.name,
                        # dagster-celery runs `celery` from the PATH: this environment's
                        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = worker_command(args.instance.resolve(), args.name, [shard_queue(s) for s in args.shard],
                             args.concurrency)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
