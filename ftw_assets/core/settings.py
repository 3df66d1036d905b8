"""The base of the option files a dataset folder keeps (``dataset.json``, ``selection.json``,
``images.json``, ``refinement.json``), so the CLI, the Dagster UI and backfills agree.

Each field carries its default and its description once: ``ftwd`` reads both for its options, the
Dagster resources and run configs read the descriptions. Values are checked when a settings object
is made (and loaded), so a bad value is an :class:`InputError` saying what to change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ftw_assets.core.atomic import write_text
from ftw_assets.core.dataset.files import read_settings_json
from ftw_assets.core.errors import InputError


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


class Settings(BaseModel):
    """One option file: ``FILE`` in the dataset folder, JSON with sorted keys."""

    model_config = ConfigDict(extra="forbid")

    FILE: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InputError(
                f"{option_name(where)} {first.get('input')!r}: {first['msg'].lower()}. "
                f"Give a value of the kind `--help` shows for it (or fix {where} in {self.FILE})."
            ) from None

    @model_validator(mode="after")
    def _checked(self):
        self.validate_values()
        return self

    def validate_values(self) -> None:
        """Raise :class:`InputError` (what, why, what to do) for a value the dataset cannot use;
        may normalise values in place. Runs whenever an object is made."""

    def check(self):
        """Check again (after attributes were changed); returns self."""
        self.validate_values()
        return self

    @classmethod
    def default(cls, name: str) -> Any:
        return cls.model_fields[name].get_default(call_default_factory=True)

    @classmethod
    def describe(cls, name: str) -> str:
        return cls.model_fields[name].description or ""

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    def save(self, output_dir: Path) -> None:
        write_text(Path(output_dir) / self.FILE, self.to_json())

    @classmethod
    def load(cls, output_dir: Path, **defaults: Any):
        """The stored settings (keys this version does not know are ignored); without the file,
        :meth:`missing`."""
        path = Path(output_dir) / cls.FILE
        if not path.exists():
            return cls.missing(path, **defaults)
        data = read_settings_json(path)
        return cls(**{k: v for k, v in data.items() if k in cls.model_fields})

    @classmethod
    def missing(cls, path: Path, **defaults: Any):
        """No file yet: the defaults (``defaults`` override them)."""
        return cls(**defaults)

    def differs_from(self, other: "Settings") -> list[str]:
        """The names of the fields whose values differ."""
        a, b = self.model_dump(), other.model_dump()
        return [k for k in a if a[k] != b[k]]
