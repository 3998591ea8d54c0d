"""ImageNet ILSVRC2012 in its official folder layout (``<root>/train/<wnid>/*.JPEG``,
``<root>/val/<wnid>/*.JPEG``), read into an ``ImageDataset`` for the ``imagenet`` profile.

Preprocessing as the released evaluation: resize the short side (bicubic), centre crop, [0, 1].
Files are taken in sorted order after a seeded shuffle, so a split is the same on every machine.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from l2l_utils.data import DataError, ImageDataset

LAYOUT = "<root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG (val re-foldered by class)"


def _load_image(path: Path, size: int) -> torch.Tensor:
    with Image.open(path) as img:
        img = img.convert("RGB")
        scale = size / min(img.size)
        img = img.resize((max(size, round(img.size[0] * scale)), max(size, round(img.size[1] * scale))),
                         Image.BICUBIC)
        left, top = (img.size[0] - size) // 2, (img.size[1] - size) // 2
        arr = np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def load_imagenet(root: str | Path | None, split: str, classes: list[str], images_per_class: int | None,
                  size: int = 224, seed: int = 0) -> ImageDataset:
    if root is None:
        raise DataError(f"the imagenet profile needs data_root: a folder laid out as {LAYOUT}")
    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(f"{folder} not found; expected the ILSVRC2012 layout {LAYOUT}")
    g = torch.Generator().manual_seed(seed)
    images, labels = [], []
    for label, wnid in enumerate(classes):
        files = sorted(p for p in (folder / wnid).glob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
        if not files:
            raise DataError(f"class folder {folder / wnid} is missing or has no images ({LAYOUT})")
        if images_per_class is not None:
            pick = torch.randperm(len(files), generator=g)[:images_per_class].sort().values
            files = [files[i] for i in pick]
        images += [_load_image(f, size) for f in files]
        labels += [label] * len(files)
    return ImageDataset(torch.stack(images), torch.tensor(labels), list(classes), f"imagenet/{split}")
