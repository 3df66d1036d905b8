"""Thumbnails: the 2-98 % stretch over valid pixels, and the PNG written from it."""

import numpy as np
import pytest
import rasterio

from ftw_assets.core.raster.thumbnail import _percentiles, stretch, write_thumbnail


@pytest.mark.parametrize("n", [1, 2, 5, 999, 40000])
def test_percentiles_from_the_histogram_equal_numpys(n):
    values = np.random.default_rng(n).integers(0, 12000, n).astype("uint16")
    assert _percentiles(values, (2, 98)) == pytest.approx(np.percentile(values.astype(float), (2, 98)), abs=1e-9)


def test_stretch_puts_the_2nd_and_98th_percentiles_at_1_and_255_and_nodata_at_0(tmp_path):
    band = np.tile(np.arange(1, 101, dtype="uint16") * 100, (100, 1))  # values 100..10000, each column one value
    band[:, 0] = 0  # nodata
    rgb = np.stack([band, band, band])
    out = stretch(rgb)
    lo, hi = np.percentile(band[:, 1:].astype(float), (2, 98))  # 2.96, 98.04 x 100 + interpolation
    assert out.dtype == np.uint8 and (out[:, :, 0] == 0).all()
    expected = np.clip((band[:, 1:].astype(np.float32) - lo) / (hi - lo) * 254 + 1, 1, 255).astype(np.uint8)
    assert (out[0][:, 1:] == expected).all()
    assert out[0][0, 1] == 1 and out[0][0, -1] == 255
    path = write_thumbnail(tmp_path / "t.png", rgb)
    with rasterio.open(path) as src:
        assert (src.read() == out).all()
    assert not (tmp_path / "t.png.aux.xml").exists()
