"""Releases: a versioned, reproducible archive of the catalog folder with a checksum manifest.

The tar.gz holds the catalog folder's files in sorted order with fixed owners and times, so the same
dataset and parameters give the same manifest and the same archive bytes."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

from ftw_assets.core.atomic import atomic_path, write_text
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.errors import InputError

OPTION_FILES = ("dataset.json", "selection.json", "images.json", "refinement.json")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,40}$")


def build_manifest(layout: Layout, version: str) -> dict:
    files = {}
    for path in sorted(p for p in layout.catalog_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(layout.catalog_dir).as_posix()
        if rel.startswith(".") or "/." in rel:  # locks and temp files are not data
            continue
        files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    parameters = {}
    for name in OPTION_FILES:
        option = layout.output_dir / name
        if option.exists():
            parameters[name.removesuffix(".json")] = json.loads(option.read_text())
    counts = {
        "files": len(files),
        "parent_items": sum(1 for f in files if f.count("/") == 1 and f.endswith(".json")
                            and Path(f).stem.count("_") == 1),
        "season_items": sum(1 for f in files if f.endswith("_s2.json")),
        "images": sum(1 for f in files if f.endswith("_image_s2.tif")),
        "masks": sum(1 for f in files if f.endswith("_class.tif") or f.endswith("_instance.tif")),
    }
    return {"name": layout.catalog_dir.name, "version": version, "parameters": parameters, "counts": counts,
            "sha256": files}


def release(layout: Layout, version: str) -> tuple[Path, Path]:
    """Write ``releases/{name}-{version}.tar.gz`` and its ``.manifest.json``; returns both paths."""
    if not VERSION_RE.match(version):
        raise InputError(f"--version {version!r}: use letters, digits, '.', '_' and '-' (e.g. 1.0.0)")
    if not layout.collection_json.exists():
        raise InputError(f"{layout.catalog_dir} has no collection.json yet: build the dataset before releasing it")
    manifest = build_manifest(layout, version)
    out_dir = layout.output_dir / "releases"
    stem = f"{manifest['name']}-{version}"
    manifest_path, archive_path = out_dir / f"{stem}.manifest.json", out_dir / f"{stem}.tar.gz"
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in [*manifest["sha256"], "MANIFEST.json"]:
            data = text.encode() if rel == "MANIFEST.json" else (layout.catalog_dir / rel).read_bytes()
            info = tarfile.TarInfo(f"{stem}/{rel}")
            info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
            tar.addfile(info, io.BytesIO(data))
    with atomic_path(archive_path, suffix=".tar.gz") as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(buffer.getvalue())
    write_text(manifest_path, text)
    return archive_path, manifest_path
