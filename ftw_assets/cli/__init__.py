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

import sys

import click

from ftw_assets.core.errors import FtwError


class FtwdGroup(click.Group):
    """Turns the project's own errors into a one-paragraph message and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FtwError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=FtwdGroup)
def main() -> None:
    """Build Fields of The World training datasets with Dagster."""


def _register() -> None:
    from ftw_assets.cli import dataset, export, images, operations, scenes
    from ftw_assets.cli.options import Command

    for module in (dataset, scenes, images, operations, export):
        for command in module.COMMANDS:
            if not isinstance(command, Command):  # its options, made on first use, need that class
                raise TypeError(f"ftwd {command.name}: declare it with @opt.command, not @click.command")
            main.add_command(command)


_register()
