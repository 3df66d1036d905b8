"""Atomic writes and the output-folder guard."""

from pathlib import Path

import pytest

from ftw_assets.core.atomic import TEMP_GLOB, atomic_path, inside, sweep_temp_files, write_text


def test_inside_folds_dots_and_refuses_what_leaves_the_root(tmp_path):
    root = tmp_path / "out"
    assert inside(root, root / "a" / ".." / "b" / "c.json") == root / "b" / "c.json"
    assert inside(root, root) == root
    with pytest.raises(ValueError, match="outside the output folder"):
        inside(root, root / ".." / "elsewhere.json")
    with pytest.raises(ValueError, match="outside the output folder"):
        inside(root, tmp_path / "out-sibling" / "x.json")  # a shared name prefix is not inside


def test_a_write_that_fails_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "record.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert list(tmp_path.glob(TEMP_GLOB)) == []
    (tmp_path / ".record.json.x.tmp").write_text("left by a killed process")
    assert sweep_temp_files(tmp_path) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]
