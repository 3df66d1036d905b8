"""The stage chains: which chip-year assets a dataset's stages run."""

import itertools

from ftw_assets.core.dataset.stages import SENSOR_ASSET_NAMES, Stages
from ftw_assets.pipeline import chain, chip_year_assets


def test_the_named_asset_stages_give_the_chains_of_the_asset_graph():
    """``ftwd status`` reads a dataset's assets from ``Stages.asset_names`` without the graph; the
    chains come from the graph: both name the same assets for every combination of stages."""
    assert len(chip_year_assets()) == 7 + len(SENSOR_ASSET_NAMES)
    for select, download, refine in itertools.product((False, True), repeat=3):
        for sensors in ((), ("dem",), tuple(SENSOR_ASSET_NAMES)):
            stages = Stages(select=select, download=download, refine=refine, sensors=sensors)
            assert sorted(k.to_user_string() for k in chain(stages)) == sorted(stages.asset_names())
    assert Stages().asset_names() == ["chip_grid", "masks", "stac_catalog"]
    assert len(Stages(select=True, download=True, refine=True, sensors=("s1",)).asset_names()) == 8
