"""The QA report's option, kept in OUTPUT_DIR/qa.json so ``ftwd qa-report`` and the Dagster UI agree.

Its own module (no raster imports) because ``ftwd`` reads the default and help when it starts.
"""

from __future__ import annotations

from pydantic import Field

from ftw_assets.core.settings import Settings

QA_SETTINGS_FILE = "qa.json"


class QaSettings(Settings):
    """The ``qa-report`` options."""

    FILE = QA_SETTINGS_FILE

    max_failure_share: float = Field(
        0.1, ge=0.0, le=1.0,
        description="Show an alert at the top of the QA report when the share of chip-years that failed "
                    "or were skipped (a season without a scene) is above this (0 to 1).")
