"""crop_calendar through ``dg.materialize``: each chip-year's planting and harvest day from the crop
calendar (the real one from ../shared when present, else the demo excerpt with the same values)."""

import json

import geopandas as gpd
import pytest
from pyproj import Transformer

from ftw_assets.core.scenes.selection import SelectionSettings
from ftw_assets.defs.scenes.calendar import crop_calendar
from ftw_assets_tests.helpers import DEMO_CHIPS, materialize, materializations

TO_LONLAT = Transformer.from_crs(32633, 4326, always_xy=True)


def test_planting_and_harvest_days_for_every_chip_year(demo_chips, demo_inputs):
    layout, instance = demo_chips
    _, calendar = demo_inputs
    SelectionSettings(crop_calendar_dir=str(calendar)).check().save(layout.output_dir)
    assert materialize(layout, [crop_calendar], instance, chip=DEMO_CHIPS[0], last_chip=DEMO_CHIPS[-1]).success

    cells = gpd.read_parquet(layout.chips_parquet).set_index("chip_id")[["cell_x", "cell_y"]]
    days = materializations(instance, crop_calendar)
    assert set(days) == {f"{c}|2024" for c in DEMO_CHIPS}
    for chip in DEMO_CHIPS:
        # All demo chips lie in the calendar pixel 47.75-48.25 N, 16.0-16.5 E: planting Apr 1, harvest Oct 28.
        meta = days[f"{chip}|2024"]
        assert (meta["planting_day"], meta["harvest_day"], meta["source"], meta["distance_km"]) == (92, 302, "pixel", 0.0)
        record = json.loads(layout.state_file(chip, 2024, "calendar.json").read_text())
        assert (record["planting_day"], record["harvest_day"], record["year"]) == (92, 302, 2024)
        assert (record["calendar"], record["calendar_source"], record["harvest_next_year"]) == ("summer", "pixel", False)
        # The lookup point is the centre of the chip's 2 km cell.
        x, y = cells.loc[chip]
        lon, lat = TO_LONLAT.transform(x + 1000, y + 1000)
        assert (record["lon"], record["lat"]) == (pytest.approx(lon, abs=1e-5), pytest.approx(lat, abs=1e-5))
        assert 16.0 < record["lon"] < 16.5 and 47.75 < record["lat"] < 48.25


def test_a_missing_calendar_fails_the_step_and_records_nothing(demo_chips, tmp_path):
    layout, instance = demo_chips
    (tmp_path / "empty").mkdir()
    SelectionSettings(crop_calendar_dir=str(tmp_path / "empty")).check().save(layout.output_dir)
    result = materialize(layout, [crop_calendar], instance, chip=DEMO_CHIPS[0], raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.to_string()
    assert "sc-sos-3x3-v2-cog.tiff is not in" in message and str(tmp_path / "empty") in message
    assert not list(layout.state_dir.glob("*/calendar.json"))
    assert not instance.get_materialized_partitions(crop_calendar.key)
