"""Options shared by the commands, and the option files they keep in the dataset folder.

A settings option takes its default and help from its settings field (:func:`option`), so each
default is written once, in the settings class, and ``ftwd``, the Dagster UI and the stored JSON
agree on it.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Callable

import click

from ftw_assets.core.dataset.settings import SETTINGS_FILE, DatasetSettings
from ftw_assets.core.errors import InputError
from ftw_assets.core.raster.clip import ImageSettings
from ftw_assets.core.scenes.selection import ON_MISSING, SelectionSettings
from ftw_assets.core.settings import Settings, option_name
from ftw_assets.partitions import CHIPS_PER_RUN


def _scalar_type(annotation: Any) -> Any:
    """``int`` for ``int | None`` (click's type when the default is None)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation if annotation in (int, float, str) else None


def option(settings: type[Settings], name: str, *decls: str, prefix: str = "", **kwargs) -> Callable:
    """A click option for the settings field ``name``: default and help from the field (``prefix``
    goes before the help); a bool field is an off-by-default flag, a list field is comma-separated
    text. ``kwargs`` (``type``, ``help``, ``default``...) override."""
    field = settings.model_fields[name]
    default = settings.default(name)
    help_text = settings.describe(name)
    kwargs.setdefault("help", f"{prefix}{help_text[:1].lower()}{help_text[1:]}" if prefix else help_text)
    if isinstance(default, bool):
        kwargs.setdefault("is_flag", True)
        kwargs.setdefault("default", default)
    else:
        if isinstance(default, (list, tuple)):
            default = ",".join(default)
        elif isinstance(kwargs.get("type"), click.Choice) and default is not None:
            default = str(default)
        kwargs.setdefault("default", default)
        kwargs.setdefault("show_default", kwargs["default"] is not None)
        if "type" not in kwargs and default is None and _scalar_type(field.annotation) in (int, float):
            kwargs["type"] = _scalar_type(field.annotation)
    return click.option(*(decls or (option_name(name),)), name, **kwargs)


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


chips_per_run = click.option("--chips-per-run", type=int, default=None,
                             help=f"Chip-years per Dagster run (default {CHIPS_PER_RUN}).")
output_report = click.option("--output-report", type=click.Path(dir_okay=False, path_type=Path), default=None,
                             help="Also write the report (JSON) here.")
stac_host = option(DatasetSettings, "stac_host")
collection = option(DatasetSettings, "collection")


def selection_options(func: Callable) -> Callable:
    """The scene-selection options, shared by ``create-dataset --select-images`` and ``select-images``."""
    return apply(func, [
        option(SelectionSettings, "buffer_days"),
        option(SelectionSettings, "cloud_cover_scene"),
        option(SelectionSettings, "pixel_check"),
        option(SelectionSettings, "cloud_cover_pixel"),
        option(SelectionSettings, "on_missing", type=click.Choice(ON_MISSING)),
        option(SelectionSettings, "include_alternatives"),
        option(SelectionSettings, "crop_calendar_dir", type=click.Path(file_okay=False, path_type=Path)),
        option(SelectionSettings, "calendar", type=click.Choice(["summer", "winter"])),
    ])


def image_options(prefix: str = "") -> Callable:
    """``--bands`` and ``--num-workers``; ``prefix`` says when they apply."""
    def decorate(func: Callable) -> Callable:
        return apply(func, [option(ImageSettings, "bands", prefix=prefix),
                            option(ImageSettings, "num_workers", prefix=prefix)])
    return decorate


def stac_host_value(value: str) -> str:
    """Local archive paths are stored absolute, so the dataset works from any folder."""
    if "://" in value or value in ("earthsearch", "planetary-computer", "local"):
        return value
    return str(Path(value).resolve())


def selection_settings(options: dict, stac_host: str, collection: str | None) -> SelectionSettings:
    """The selection options on the given scene source, checked against the source and the crop calendar."""
    from ftw_assets.core.scenes.calendar import calendar_files
    from ftw_assets.core.scenes.sources import open_source

    calendar_dir = options.get("crop_calendar_dir")
    selection = settings_from(SelectionSettings, options, stac_host=stac_host_value(stac_host), collection=collection,
                              crop_calendar_dir=str(Path(calendar_dir).resolve()) if calendar_dir else None)
    open_source(selection.stac_host, selection.collection)  # a bad --stac-host fails before anything is written
    calendar_files(selection.crop_calendar_dir, selection.calendar)  # so does a missing crop calendar
    return selection


def dataset_dir(path: Path) -> Path:
    """The dataset folder: ``path`` or, for its NAME-chips folder, its parent."""
    path = Path(path).resolve()
    for candidate in (path, path.parent):
        if (candidate / SETTINGS_FILE).exists():
            return candidate
    raise InputError(f"{path} is not a dataset folder (no {SETTINGS_FILE} in it or its parent); "
                     "give the OUTPUT_DIR of `ftwd create-dataset` or its NAME-chips folder")


def check_same_dataset(output_dir: Path, settings: DatasetSettings) -> None:
    """Refuse to resume a dataset folder with different create-dataset options."""
    if not (output_dir / SETTINGS_FILE).exists():
        return
    changed = DatasetSettings.load(output_dir).differs_from(settings)
    if changed:
        raise InputError(
            f"{output_dir} already holds a dataset made with different {', '.join(changed)}. "
            "Rerun with the same options to resume it, or choose a new OUTPUT_DIR."
        )


def store_selection(output_dir: Path, selection: SelectionSettings) -> bool:
    """Store the selection options; True when they differ from the stored ones (re-select all)."""
    changed = (output_dir / SelectionSettings.FILE).exists() and SelectionSettings.load(output_dir) != selection
    if changed:
        click.echo("selection options differ from the last run: every chip-year is selected again")
    selection.save(output_dir)
    return changed


def store_images(output_dir: Path, images: ImageSettings) -> bool:
    """Store the image options; True when the bands differ from the stored ones (write all images again)."""
    changed = (output_dir / ImageSettings.FILE).exists() and ImageSettings.load(output_dir).bands != images.bands
    if changed:
        click.echo("--bands differ from the last run: every image is written again")
    images.save(output_dir)
    return changed
