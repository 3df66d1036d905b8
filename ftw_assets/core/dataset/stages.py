"""Which optional stages a dataset is configured for: the one answer to "is this stage on?".

A stage is on when its options file exists in the dataset folder (the command that turns it on
writes it): scene selection (``selection.json``), images (``images.json``, needs selection) and
cloud refinement (``refinement.json``, needs selection). Chips, masks and the catalog always run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

SELECT, DOWNLOAD, REFINE = "select", "download", "refine"
ALWAYS = "always"


@dataclass(frozen=True)
class Stages:
    select: bool = False
    download: bool = False
    refine: bool = False

    @classmethod
    def of(cls, output_dir: Path) -> "Stages":
        from ftw_assets.core.raster.clip import IMAGES_FILE
        from ftw_assets.core.scenes.refinement import REFINEMENT_FILE
        from ftw_assets.core.scenes.selection import SELECTION_FILE

        output_dir = Path(output_dir)
        select = (output_dir / SELECTION_FILE).exists()
        return cls(select=select, download=select and (output_dir / IMAGES_FILE).exists(),
                   refine=select and (output_dir / REFINEMENT_FILE).exists())

    def with_(self, **on: bool) -> "Stages":
        return replace(self, **on)

    def enabled(self, stage: str) -> bool:
        return stage == ALWAYS or bool(getattr(self, stage))


def require_selection(output_dir: Path, command: str) -> None:
    """``command`` works on selected scenes: refuse, before anything is written, where none were selected."""
    from ftw_assets.core.errors import InputError

    if not Stages.of(output_dir).select:
        raise InputError(f"{output_dir} has no scene selection yet, so {command} has nothing to work on. "
                         f"Run `ftwd select-images {output_dir}` first (or create-dataset --select-images).")
