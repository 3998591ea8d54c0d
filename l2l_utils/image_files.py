"""Reading image files of the full-scale datasets (ImageNet, Places365) into tensors.

Preprocessing as the released evaluation code: resize the short side to ``size`` (bicubic), centre
crop, RGB in [0, 1]. A file that cannot be decoded is skipped and counted, never fatal: one bad
JPEG in a million must not stop a run, but the count is reported so that a broken copy is noticed.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from l2l_utils.data import DataError, ImageDataset

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def read_image(path: Path, size: int) -> torch.Tensor:
    with Image.open(path) as img:
        img = img.convert("RGB")
        scale = size / min(img.size)
        img = img.resize((max(size, round(img.size[0] * scale)), max(size, round(img.size[1] * scale))),
                         Image.BICUBIC)
        left, top = (img.size[0] - size) // 2, (img.size[1] - size) // 2
        arr = np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name (protocol decision 15)."""
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def read_images(files: list[Path], size: int, source: str) -> tuple[list[torch.Tensor], list[Path]]:
    """(decoded images, files that could not be decoded); warns once with the count."""
    images, bad = [], []
    for f in files:
        try:
            images.append(read_image(f, size))
        except (OSError, UnidentifiedImageError, ValueError):
            bad.append(f)
    if bad:
        warnings.warn(f"{source}: skipped {len(bad)} unreadable image file(s), e.g. {bad[0]}")
    return images, bad


def read_classes(files_of: dict[str, list[Path]], size: int, source: str) -> ImageDataset:
    """One dataset from the files of each class (labels in the dict's order); a class with no readable
    file is a ``DataError``, unreadable files are skipped and listed in ``skipped``."""
    images, labels, skipped = [], [], []
    for label, (name, files) in enumerate(files_of.items()):
        decoded, bad = read_images(files, size, f"{source}/{name}")
        if not decoded:
            raise DataError(f"{source}: no readable image of class {name!r} ({len(bad)} unreadable)")
        images += decoded
        labels += [label] * len(decoded)
        skipped += [str(p) for p in bad]
    return ImageDataset(torch.stack(images), torch.tensor(labels), list(files_of), source, skipped)


def load_coco(root: str | Path | None, n_images: int | None, size: int, seed: int = 0) -> ImageDataset:
    """COCO ``train2017/*.jpg`` as a proxy pool (one class, "coco"): ``n_images`` drawn by a seeded
    permutation of the sorted names, as the released code's ``--use_coco`` (ceil(12000 r) images)."""
    folder = Path(root) / "train2017" if root is not None else None
    if folder is None or not folder.is_dir():
        raise DataError(f"COCO proxy: {folder} not found; expected <coco_root>/train2017/*.jpg")
    files = image_files(folder)
    if not files:
        raise DataError(f"COCO proxy: no images in {folder}")
    if n_images is not None:
        pick = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed))[:n_images].sort().values
        files = [files[i] for i in pick]
    return read_classes({"coco": files}, size, "coco/train2017")
