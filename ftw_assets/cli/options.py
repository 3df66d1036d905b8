"""Options shared by the commands, and the option files they keep in the dataset folder.

A settings option takes its default and help from its settings field (:func:`option`), so each
default is written once, in the settings class, and ``ftwd``, the Dagster UI and the stored JSON
agree on it. The settings classes live in modules that load geopandas, rasterio or Dagster, so
these options are made on first use (:class:`Command`): ``ftwd --help`` loads none of them.
"""

from __future__ import annotations

import importlib
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import click

from ftw_assets.core.errors import InputError
from ftw_assets.core.settings import Settings, option_name

if TYPE_CHECKING:
    from ftw_assets.core.dataset.settings import DatasetSettings
    from ftw_assets.core.raster.clip import ImageSettings
    from ftw_assets.core.scenes.selection import SelectionSettings


class Lazy(NamedTuple):
    """A name imported when an option is made, not when ``ftwd`` starts: the settings classes and
    vocabularies live in modules that load geopandas, rasterio or Dagster. ``template`` formats the value."""

    module: str
    name: str
    template: str = ""

    def get(self) -> Any:
        value = getattr(importlib.import_module(self.module), self.name)
        return self.template.format(value) if self.template else value


DATASET = Lazy("ftw_assets.core.dataset.settings", "DatasetSettings")
SELECTION = Lazy("ftw_assets.core.scenes.selection", "SelectionSettings")
IMAGES = Lazy("ftw_assets.core.raster.clip", "ImageSettings")
REFINEMENT = Lazy("ftw_assets.core.scenes.refinement", "RefinementSettings")
STAC_HOST_HELP = Lazy("ftw_assets.core.scenes.sources", "STAC_HOST_HELP")


class Deferred(NamedTuple):
    """An option made on first use by :class:`Command`."""

    make: Callable[[], click.Parameter]


class Command(click.Command):
    """A command whose :class:`Deferred` options are made when its parameters are first read (its
    ``--help``, its parsing), so listing the commands (``ftwd --help``) imports none of the modules
    they read their defaults from."""

    @property
    def params(self) -> list[click.Parameter]:
        if any(isinstance(p, Deferred) for p in self._params):
            self._params = [p.make() if isinstance(p, Deferred) else p for p in self._params]
        return self._params

    @params.setter
    def params(self, value: list) -> None:
        self._params = list(value)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as err:
            # The error boundary (ftw_assets.cli.FtwdGroup) names the dataset folder in its message.
            err.ftw_where = ctx.params.get("output_dir") or ctx.params.get("dataset")
            raise


def command(name: str) -> Callable:
    """``click.command`` for a :class:`Command` (every ``ftwd`` command)."""
    return click.command(name, cls=Command)


def deferred(make: Callable[[], click.Parameter]) -> Callable:
    """A decorator adding the parameter ``make()`` returns, made on first use (see :class:`Command`)."""
    def decorate(func: Callable) -> Callable:
        if not hasattr(func, "__click_params__"):
            func.__click_params__ = []
        func.__click_params__.append(Deferred(make))
        return func
    return decorate


def _scalar_type(annotation: Any) -> Any:
    """``int`` for ``int | None`` (click's type when the default is None)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation if annotation in (int, float, str) else None


def option(settings: type[Settings] | Lazy, name: str, *decls: str, prefix: str = "",
           choices: Lazy | list | tuple | None = None, **kwargs) -> Callable:
    """A click option for the settings field ``name``: default and help from the field (``prefix``
    goes before the help); a bool field is an off-by-default flag, a list field is comma-separated
    text; ``choices`` make a :class:`click.Choice` of their text. ``kwargs`` (``type``, ``help``,
    ``default``...) override. Made on first use: ``settings``, ``choices`` and any ``kwargs`` value may
    be :class:`Lazy`."""
    def make() -> click.Option:
        cls = settings.get() if isinstance(settings, Lazy) else settings
        values = {k: v.get() if isinstance(v, Lazy) else v for k, v in kwargs.items()}
        if choices is not None:
            values["type"] = click.Choice([str(c) for c in (choices.get() if isinstance(choices, Lazy) else choices)])
        field = cls.model_fields[name]
        default = cls.default(name)
        help_text = cls.describe(name)
        values.setdefault("help", f"{prefix}{help_text[:1].lower()}{help_text[1:]}" if prefix else help_text)
        if isinstance(default, bool):
            values.setdefault("is_flag", True)
            values.setdefault("default", default)
        else:
            if isinstance(default, (list, tuple)):
                default = ",".join(default)
            elif isinstance(values.get("type"), click.Choice) and default is not None:
                default = str(default)
            values.setdefault("default", default)
            values.setdefault("show_default", values["default"] is not None)
            if "type" not in values and default is None and _scalar_type(field.annotation) in (int, float):
                values["type"] = _scalar_type(field.annotation)
        return click.Option([*(decls or (option_name(name),)), name], **values)
    return deferred(make)


def settings_from(cls: type[Settings], options: dict, **values: Any):
    """``cls`` made from a command's options (the ones named like its fields); ``values`` win.
    Comma-separated text becomes the list of a list field."""
    picked = {}
    for name in cls.model_fields:
        if name in values:
            picked[name] = values[name]
        elif name in options:
            value = options[name]
            if isinstance(cls.default(name), (list, tuple)) and isinstance(value, str):
                value = value.split(",")
            picked[name] = value
    return cls(**picked)


def apply(func: Callable, decorators: list[Callable]) -> Callable:
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


_chips_per_run = deferred(lambda: click.Option(
    ["--chips-per-run"], type=click.IntRange(min=1), default=None,
    help=Lazy("ftw_assets.partitions", "CHIPS_PER_RUN", "Chip-years per Dagster run (default {}).").get()))
_processes = click.option(
    "--processes", type=click.IntRange(min=1), default=None,
    help="Runs at a time, each in its own process on this machine (default: one per core, at most 4, and "
         "none below 100 chip-years to do, where starting one costs more than it saves; 1 runs everything "
         "in this process). Each process takes a contiguous part of the runs, and one more "
         "process reads every chip window for them, so no COG block is fetched twice. With more than one and "
         "no --chips-per-run, runs are sized to divide evenly.")


def _use_deployment(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """``--instance DIR``: the deployment's broker and database must answer before anything is written; then
    every instance ftwd opens is the deployment's (FTW_DAGSTER_INSTANCE, ftw_assets.deploy)."""
    if value is None:
        return
    import os

    from ftw_assets.deploy import ENV, preflight

    preflight.check(Path(value))
    os.environ[ENV] = str(Path(value).resolve())


_instance = click.option(
    "--instance", type=click.Path(file_okay=False, path_type=Path), default=None, envvar="FTW_DAGSTER_INSTANCE",
    expose_value=False, callback=_use_deployment,
    help="A deployment's folder (its dagster.yaml: PostgreSQL, queued runs on Celery workers; also "
         "FTW_DAGSTER_INSTANCE): the runs are submitted there and followed here. Default: in this process, on the "
         "dataset's own instance. With it, --processes sizes the runs for that many workers.")


def chips_per_run(func: Callable) -> Callable:
    """``--chips-per-run``, ``--processes`` and ``--instance``: how the chip-years are cut into runs, how many run
    at once, and where."""
    return _chips_per_run(_processes(_instance(func)))
output_report = click.option("--output-report", type=click.Path(dir_okay=False, path_type=Path), default=None,
                             help="Also write the report (JSON) here.")
refine_cloud = click.option(
    "--refine-cloud/--no-refine-cloud", default=None,
    help="Measure cloud on each chip's own pixels of its scenes and select again where a scene is cloudy on the "
         "chip or its image blank (refine-cloud-cover, with its defaults unless refinement.json holds others). "
         "On by default with images; --no-refine-cloud keeps scene-level cloud only.")
stac_host = option(DATASET, "stac_host")
collection = option(DATASET, "collection")


def selection_options(func: Callable) -> Callable:
    """The scene-selection options, shared by ``create-dataset --select-images`` and ``select-images``."""
    return apply(func, [
        option(SELECTION, "buffer_days"),
        option(SELECTION, "cloud_cover_scene"),
        option(SELECTION, "pixel_check"),
        option(SELECTION, "cloud_cover_pixel"),
        option(SELECTION, "on_missing", choices=Lazy("ftw_assets.core.scenes.selection", "ON_MISSING")),
        option(SELECTION, "include_alternatives"),
        option(SELECTION, "crop_calendar_dir", type=click.Path(file_okay=False, path_type=Path)),
        option(SELECTION, "calendar", choices=["summer", "winter"]),
    ])


def image_options(prefix: str = "") -> Callable:
    """``--bands`` and ``--num-workers``; ``prefix`` says when they apply."""
    def decorate(func: Callable) -> Callable:
        return apply(func, [option(IMAGES, "bands", prefix=prefix),
                            option(IMAGES, "num_workers", prefix=prefix)])
    return decorate


def stac_host_value(value: str) -> str:
    """The --stac-host value as datasets store it: 'local' becomes the generated archive's stac-geoparquet
    path (generated first, with a message, when missing) and a file path absolute, so the dataset works
    from any folder; source names and URLs stay as given."""
    from ftw_assets.core.scenes.sources import resolve_stac_host

    return resolve_stac_host(value, announce=click.echo)


def selection_settings(options: dict, stac_host: str, collection: str | None) -> SelectionSettings:
    """The selection options on the given scene source, checked against the source and the crop calendar."""
    from ftw_assets.core.scenes.calendar import calendar_files
    from ftw_assets.core.scenes.selection import SelectionSettings
    from ftw_assets.core.scenes.sources import open_source

    calendar_dir = options.get("crop_calendar_dir")
    selection = settings_from(SelectionSettings, options, stac_host=stac_host_value(stac_host), collection=collection,
                              crop_calendar_dir=str(Path(calendar_dir).resolve()) if calendar_dir else None)
    open_source(selection.stac_host, selection.collection)  # a bad --stac-host fails before anything is written
    calendar_files(selection.crop_calendar_dir, selection.calendar)  # so does a missing crop calendar
    return selection


def dataset_dir(path: Path, write: bool = True) -> Path:
    """The dataset folder: ``path`` or, for its NAME-chips folder, its parent; with ``write``, checked
    to be writable before the command starts (a read-only dataset can still be read)."""
    from ftw_assets.core.dataset.files import SETTINGS_FILE

    path = Path(path).resolve()
    for candidate in (path, path.parent):
        if (candidate / SETTINGS_FILE).exists():
            if write:
                from ftw_assets.core.dataset.preflight import check_output_dir

                check_output_dir(candidate)
            return candidate
    raise InputError(f"{path} is not a dataset folder (no {SETTINGS_FILE} in it or its parent); "
                     "give the OUTPUT_DIR of `ftwd create-dataset` or its NAME-chips folder")


def store_selection(output_dir: Path, selection: SelectionSettings) -> bool:
    """Store the selection options; True when they differ from the stored ones (re-select all)."""
    from ftw_assets.core.scenes.selection import SelectionSettings

    changed = (output_dir / SelectionSettings.FILE).exists() and SelectionSettings.load(output_dir) != selection
    if changed:
        click.echo("selection options differ from the last run: every chip-year is selected again")
    selection.save(output_dir)
    return changed


def store_refinement(output_dir: Path, on: bool) -> bool:
    """Turn cloud refinement on (``refinement.json`` with the defaults when there is none; options
    kept by refine-cloud-cover stay) or off (the file removed; records and rejected scenes stay).
    True when it was turned on now (measure every chip-season again)."""
    from ftw_assets.core.scenes.refinement import RefinementSettings

    path = Path(output_dir) / RefinementSettings.FILE
    if on and not path.exists():
        refine = RefinementSettings()
        refine.save(output_dir)
        click.echo(f"cloud refinement on: a scene with more than {refine.cloud_cover_pixel:g} % cloud on the chip, "
                   f"or a blank image, is selected again (up to {refine.max_attempts} times); --no-refine-cloud "
                   "turns it off")
        return True
    if not on and path.exists():
        path.unlink()
        click.echo(f"cloud refinement off: removed {path}")
    return False


def store_images(output_dir: Path, images: ImageSettings) -> bool:
    """Store the image options; True when the bands differ from the stored ones (write all images again)."""
    from ftw_assets.core.raster.clip import ImageSettings

    changed = (output_dir / ImageSettings.FILE).exists() and ImageSettings.load(output_dir).bands != images.bands
    if changed:
        click.echo("--bands differ from the last run: every image is written again")
    images.save(output_dir)
    return changed
