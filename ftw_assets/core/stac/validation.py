"""Offline STAC validation: core schemas from pystac, extension schemas shipped in ``schemas/``.

Nothing is fetched; an item declaring an extension whose schema is not available here fails
with a message naming the schema.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import pystac
from pystac.errors import STACValidationError
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
        self._registry = None
        self._compiled: dict[str, Any] = {}

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri not in self.schema_cache:
            raise pystac.STACError(f"schema {schema_uri} is not available offline; add it under {SCHEMA_DIR}")
        return super()._get_schema(schema_uri)

    @property
    def registry(self) -> Any:
        # pystac builds a new registry of every schema on each validation; ours are fixed after __init__.
        if self._registry is None:
            self._registry = super().registry
        return self._registry

    def _validate_from_uri(self, stac_dict: dict[str, Any], stac_object_type, schema_uri: str,
                           href: str | None = None) -> None:
        """pystac's check, with each schema compiled once by fastjsonschema (Python code generated from
        the schema, refs resolved from the offline cache; formats ignored, as pystac's jsonschema check
        does). pystac rebuilt a registry and re-checked the schema for every item, which was most of the
        time spent writing one (``make bench``). A failure is explained by jsonschema's own best match,
        so the message is pystac's, and jsonschema has the last word."""
        check = self._compiled.get(schema_uri)
        if check is None:
            check = self._compiled[schema_uri] = self._compile(schema_uri)
        try:
            check(stac_dict)
        except fastjsonschema.JsonSchemaValueException:
            # jsonschema, the reference, decides and explains (it raises; it has the last word).
            self._explain(stac_dict, stac_object_type, schema_uri, href)

    def _compile(self, schema_uri: str):
        schema = self._get_schema(schema_uri)
        jsonschema.validators.validator_for(schema).check_schema(schema)

        def offline(uri: str) -> dict:
            uri = uri.split("#")[0]
            if uri.startswith(("http://json-schema.org/", "https://json-schema.org/")):  # a draft's meta-schema
                return jsonschema.validators.validator_for({"$schema": uri + "#"}).META_SCHEMA
            return self._get_schema(uri)

        return fastjsonschema.compile(schema, handlers={"https": offline, "http": offline}, use_formats=False)

    def _explain(self, stac_dict: dict[str, Any], stac_object_type, schema_uri: str, href: str | None) -> None:
        schema = self._get_schema(schema_uri)
        errors = list(jsonschema.validators.validator_for(schema)(schema, registry=self.registry).iter_errors(stac_dict))
        if errors:
            msg = f"Validation failed for {stac_object_type} " + (f"at {href} " if href else "")
            if stac_dict.get("id") is not None:
                msg += f"with ID {stac_dict['id']} "
            msg += f"against schema at {schema_uri}"
            best = jsonschema.exceptions.best_match(errors)
            raise STACValidationError(msg + ("\n" + str(best) if best else ""), source=errors) from best


@lru_cache(maxsize=1)
def offline_validator() -> OfflineValidator:
    return OfflineValidator()


def validate_stac(d: dict) -> list[str]:
    """Validate one STAC dict against core and every declared extension; returns the schema URIs used."""
    return validate_dict(d, validator=offline_validator())
