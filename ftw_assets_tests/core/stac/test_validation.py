"""Offline validation: the compiled check agrees with pystac's jsonschema check, item by item."""

import copy
import json

import jsonschema
import pystac
import pytest

from ftw_assets.core.stac.validation import offline_validator, validate_stac
from ftw_assets_tests.core.stac.test_items import _item


def _mutations():
    d = json.loads(json.dumps(_item()))  # as written to disk: lists, not tuples
    yield "valid", d, True
    for name, path, value in [
        ("bad geometry type", ("geometry", "type"), "Polygn"),
        ("coverage above 100", ("properties", "ftw:coverage"), 140.0),
        ("split not known", ("properties", "ftw:split"), "holdout"),
        ("datetime not a string", ("properties", "datetime"), 5),
        ("proj:code not a string", ("properties", "proj:code"), 32633),
        ("bbox of three numbers", ("bbox",), [1.0, 2.0, 3.0]),
    ]:
        m = copy.deepcopy(d)
        target = m
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        yield name, m, False


@pytest.mark.parametrize("name,item,valid", list(_mutations()), ids=[n for n, _, _ in _mutations()])
def test_compiled_check_agrees_with_jsonschema(name, item, valid):
    validator = offline_validator()
    reference = True
    for uri in [item.get("$schema") or "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json",
                *item["stac_extensions"]]:
        schema = validator._get_schema(uri)
        if list(jsonschema.validators.validator_for(schema)(schema, registry=validator.registry).iter_errors(item)):
            reference = False
    assert reference is valid
    if valid:
        assert len(validate_stac(item)) == 3
    else:
        with pytest.raises(pystac.STACValidationError, match="Validation failed for .* with ID ftw-33UWP7828_2024"):
            validate_stac(item)
