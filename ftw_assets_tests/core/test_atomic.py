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


def test_the_next_writer_removes_what_a_killed_writer_of_this_host_left_and_keeps_the_rest(tmp_path):
    import os
    import subprocess
    import sys

    from ftw_assets.core import atomic

    target = tmp_path / "chip_image_s2.tif"
    # A writer killed between writing and renaming (a worker SIGKILLed mid-run).
    killed = subprocess.run([sys.executable, "-c", "from ftw_assets.core.atomic import write_text; import sys;"
                             "write_text(sys.argv[1], 'half')", str(target)],
                            env={**os.environ, atomic.CRASH_ENV: target.name})
    assert killed.returncode == -9
    left = [p.name for p in tmp_path.glob(TEMP_GLOB)]
    assert len(left) == 1 and f".{atomic._HOST}@" in left[0], left
    with subprocess.Popen(["sleep", "60"]) as live:
        try:
            writing = tmp_path / f".other.tif.{atomic._HOST}@{live.pid}.abcd_123.tmp.tif"  # a live writer's
            elsewhere = tmp_path / ".other.tif.another-host@1.abcd_123.tmp.tif"  # another host's: its pids are not ours
            for path in (writing, elsewhere):
                path.write_text("in progress")
            atomic._clear_dead_writers.cache_clear()
            write_text(tmp_path / "record.json", "new")
            assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["record.json", writing.name, elsewhere.name])
        finally:
            live.kill()
