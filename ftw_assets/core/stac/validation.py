"""Offline STAC validation: core schemas from pystac, extension schemas shipped in ``schemas/``.

Nothing is fetched; an item declaring an extension whose schema is not available here fails
with a message naming the schema.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pystac
from pystac.validation import validate_dict
from pystac.validation.local_validator import get_local_schema_cache
from pystac.validation.stac_validator import JsonSchemaSTACValidator

SCHEMA_DIR = Path(__file__).parent / "schemas"


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's JSON-schema validator limited to schemas held locally."""

    def __init__(self) -> None:
        super().__init__()
        self.schema_cache.update(get_local_schema_cache())
        for path in SCHEMA_DIR.glob("*/*/schema.json"):
            schema = json.loads(path.read_text())
            self.schema_cache[schema["$id"]] = schema

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri not in self.schema_cache:
            raise pystac.STACError(f"schema {schema_uri} is not available offline; add it under {SCHEMA_DIR}")
        return super()._get_schema(schema_uri)


@lru_cache(maxsize=1)
def offline_validator() -> OfflineValidator:
    return OfflineValidator()


def validate_stac(d: dict) -> list[str]:
    """Validate one STAC dict against core and every declared extension; returns the schema URIs used."""
    return validate_dict(d, validator=offline_validator())
