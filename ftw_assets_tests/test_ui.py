"""`ftwd ui` serves the Dagster UI on 127.0.0.1 over the dataset's own instance."""

import json
import subprocess
import sys
import time
import urllib.request

from ftw_assets.demo.world import write_demo_fields
from ftw_assets_tests.helpers import running_ui

# s: generous limits for states polled below (an answer, a finished backfill); the suite shares two cores, and
# each wait ends as soon as its state is reached.
WAIT = 120
BACKFILL_WAIT = 600


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=WAIT) as resp:
        return json.load(resp)["data"]


def test_ui_shows_the_cli_history(tmp_path):
    fields = write_demo_fields(tmp_path / "fields.gpkg")
    out = tmp_path / "demo"
    made = subprocess.run([sys.executable, "-m", "ftw_assets.cli", "create-dataset", str(fields), str(out), "--year", "2024"],
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    with running_ui(out) as port:
        nodes = _graphql(port, "{ assetNodes { assetKey { path } } }")["assetNodes"]
        assert sorted(n["assetKey"]["path"][0] for n in nodes) == [
            "chip_grid", "chip_registry", "clipped_images", "cloud_refinement", "crop_calendar", "elevation_chips",
            "field_boundaries", "landcover_chips", "landsat_images", "masks", "qa_report", "scene_inventory",
            "selected_scenes", "sentinel1_images", "stac_catalog", "training_export"]
        repos = _graphql(port, "{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors { name "
                               "sensorState { status } } } } } }")["repositoriesOrError"]["nodes"]
        sensors = {s["name"]: s["sensorState"]["status"] for r in repos for s in r["sensors"]}
        assert sensors == {"reselect_cloudy_chips": "RUNNING"}  # on the Automation page, running by default
        data = _graphql(port, '{ assetNodeOrError(assetKey: {path: ["masks"]}) { ... on AssetNode { '
                              'partitionStats { numMaterialized numPartitions } } } }')
        assert data["assetNodeOrError"]["partitionStats"] == {"numMaterialized": 8, "numPartitions": 8}

        # A backfill launched as from the UI is batched by the backfill policy: the 8 chip-years
        # of masks and stac_catalog run as one range run, not 8 runs.
        launched = _graphql(port, 'mutation { launchPartitionBackfill(backfillParams: {allPartitions: true, '
                                  'assetSelection: [{path: ["masks"]}, {path: ["stac_catalog"]}]}) '
                                  '{ __typename ... on LaunchBackfillSuccess { backfillId } } }')["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess"
        backfill = launched["backfillId"]
        deadline = time.monotonic() + BACKFILL_WAIT
        while True:
            runs = _graphql(port, '{ runsOrError { ... on Runs { results { status tags { key value } } } } }')
            ours = [r for r in runs["runsOrError"]["results"]
                    if {"key": "dagster/backfill", "value": backfill} in r["tags"]]
            if ours and all(r["status"] in ("SUCCESS", "FAILURE") for r in ours):
                break
            assert time.monotonic() < deadline, f"backfill {backfill} did not finish: {ours}"
            time.sleep(2)
        assert len(ours) == 1 and ours[0]["status"] == "SUCCESS"
        tags = {t["key"]: t["value"] for t in ours[0]["tags"]}
        # Chips are registered in block order (the S2 block holding each cell, then north to south):
        # block (6, 7) holds 7830, 8030, 7828, 8028 and block (6, 8) holds 8230, 8430, 8228, 8428.
        assert tags["dagster/asset_partition_range_start"] == "ftw-33UWP7830|2024"
        assert tags["dagster/asset_partition_range_end"] == "ftw-33UWP8428|2024"
