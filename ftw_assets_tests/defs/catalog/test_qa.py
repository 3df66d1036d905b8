"""qa_report and the collection: the QA link is part of the collection whoever rewrites it."""

import json

from ftw_assets import pipeline
from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.core.dataset.stages import ALWAYS, Stages
from ftw_assets.demo.world import DEMO_YEAR, write_demo_fields
from ftw_assets.defs import qa_report


def collection_assets(out):
    return json.loads((out / "demo-chips" / "collection.json").read_text())["assets"]


def test_the_qa_link_survives_a_later_catalog_run(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    DatasetSettings(fields=str(write_demo_fields(tmp_path / "fields.gpkg")), name="demo", year=DEMO_YEAR).check().save(out)
    first = pipeline.materialize_dataset(out, Stages(), after=[qa_report.key], echo=lambda _: None)
    assert not first.failed
    assert collection_assets(out)["qa_report"] == {
        "href": "./qa_report.html", "type": "text/html", "title": "QA report", "roles": ["overview"]}

    # Every chip-year's catalog entry again (as the sensor, the schedule or add-year would): the link stays.
    again = pipeline.materialize_dataset(out, Stages(), redo=[ALWAYS], echo=lambda _: None)
    assert [r.partitions for r in again.runs if r.partitions] == [8]
    assert sorted(collection_assets(out)) == ["chips", "instance_ids", "items", "qa_report"]
