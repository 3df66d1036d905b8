"""``ftwd``: the dataset commands FTW users know, run through the Dagster asset graph.

Every command works on one output folder that holds the dataset, its parameters
(``dataset.json``) and its Dagster instance (``dagster_home/``), so what the CLI does shows
in the Dagster UI (``ftwd ui OUTPUT_DIR``) and a rerun does only what is missing.

The commands live by concern in :mod:`.dataset`, :mod:`.scenes`, :mod:`.images`,
:mod:`.operations` and :mod:`.export`; their shared options in :mod:`.options`, what they print in
:mod:`.output`, the progress bar in :mod:`.progress`. Modules here import Dagster, the raster stack
and the settings modules inside the commands, so ``ftwd`` starts fast.
"""

from __future__ import annotations

import os
import sys

import click

from ftw_assets.core.errors import FtwError


INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


class FtwdGroup(click.Group):
    """The CLI's one error boundary: the project's own errors, and the machine's (disk full, read-only,
    a file where a folder should be), become one message and their exit code (see
    :mod:`ftw_assets.core.errors`); Ctrl-C exits 130. Anything else is a bug: one line here, the
    traceback in a log file (``FTWD_DEBUG=1`` shows it instead)."""

    def invoke(self, ctx):
        from ftw_assets.core.errors import environment_problem

        try:
            return super().invoke(ctx)
        except FtwError as err:
            _fail(err, err.exit_code)
        except KeyboardInterrupt:
            click.secho("interrupted: stopped before finishing; rerun the same command to resume.", fg="yellow",
                        err=True)
            sys.exit(INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as err:
            problem = environment_problem(err, getattr(err, "ftw_where", None))
            if problem is not None:
                _fail(problem, problem.exit_code)
            if os.environ.get("FTWD_DEBUG"):
                raise
            _fail(f"unexpected {type(err).__name__}: {err}. This is a bug in ftwd; the traceback is in "
                  f"{_log_traceback()} (FTWD_DEBUG=1 prints it). Please report it with that file.", 1)


def _fail(message, code: int) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def _log_traceback() -> str:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="ftwd-error-", suffix=".log", delete=False) as log:
        traceback.print_exc(file=log)
    return log.name


@click.group(cls=FtwdGroup)
def main() -> None:
    """Build Fields of The World training datasets with Dagster."""
    _terminable()
    from ftw_assets.core.raster.cache import block_cache_size

    block_cache_size()  # a GDAL_CACHEMAX that GDAL would not read is refused before anything is written


def run() -> None:
    """The ``ftwd`` program (and ``python -m ftw_assets.cli``): :func:`main`, its exit code, and no
    interpreter teardown after it (:mod:`ftw_assets.process_exit`)."""
    from ftw_assets import process_exit

    process_exit.install()
    try:
        main()
    except SystemExit as ending:
        process_exit.exiting_with(ending.code)
        raise


def _terminable() -> None:
    """SIGTERM ends ftwd, even when its parent ignores it (a shell script's background job, where SIGINT is
    ignored, and Dagster then maps SIGTERM onto that ignored SIGINT). An ignored SIGTERM is inherited by the
    log tails Dagster starts for each step and stops with SIGTERM: each step would then wait a minute for them."""
    import signal

    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _register() -> None:
    from ftw_assets.cli import dataset, export, images, operations, scenes
    from ftw_assets.cli.options import Command

    for module in (dataset, scenes, images, operations, export):
        for command in module.COMMANDS:
            if not isinstance(command, Command):  # its options, made on first use, need that class
                raise TypeError(f"ftwd {command.name}: declare it with @opt.command, not @click.command")
            main.add_command(command)


_register()
