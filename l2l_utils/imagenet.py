"""ImageNet ILSVRC2012 in its official folder layout (``<root>/train/<wnid>/*.JPEG``,
``<root>/val/<wnid>/*.JPEG``), read into an ``ImageDataset`` for the ``imagenet`` profile.

Preprocessing as the released evaluation (``image_files.read_image``). Files are picked by a seeded
permutation of the sorted names, so a split is the same on every machine; unreadable files are
skipped and counted in ``ImageDataset.skipped``.
"""
from __future__ import annotations

from pathlib import Path

import torch

from l2l_utils.data import DataError, ImageDataset
from l2l_utils.image_files import image_files, read_classes

LAYOUT = "<root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG (val re-foldered by class)"


def load_imagenet(root: str | Path | None, split: str, classes: list[str], images_per_class: int | None,
                  size: int = 224, seed: int = 0) -> ImageDataset:
    if root is None:
        raise DataError(f"the imagenet profile needs data_root: a folder laid out as {LAYOUT}")
    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(f"{folder} not found; expected the ILSVRC2012 layout {LAYOUT}")
    g = torch.Generator().manual_seed(seed)
    files_of = {}
    for wnid in classes:
        files = image_files(folder / wnid)
        if not files:
            raise DataError(f"class folder {folder / wnid} is missing or has no images ({LAYOUT})")
        if images_per_class is not None:
            pick = torch.randperm(len(files), generator=g)[:images_per_class].sort().values
            files = [files[i] for i in pick]
        files_of[wnid] = files
    return read_classes(files_of, size, f"imagenet/{split}")
