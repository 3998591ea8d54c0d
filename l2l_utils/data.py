"""Embedded default data and class splits.

The repository ships two small datasets in ``data/`` (built by ``scripts/build_embedded_data.py``
from Debian packages; provenance in ``data/README.md``). Loaders verify the SHA-256 listed in
``data/SHA256SUMS`` so a truncated or edited file fails loudly instead of silently changing results.

Images are returned as float32 tensors in [0, 1], shape (N, 3, H, W): every generator family
converts to its own input range internally.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.io import file_sha256

DATA_DIR = PROJECT_ROOT / "data"


class DataError(RuntimeError):
    """Missing, corrupt or inconsistent data."""


def verify_checksum(path: Path, sums_file: Path | None = None) -> None:
    sums_file = sums_file or path.parent / "SHA256SUMS"
    if not path.is_file():
        raise DataError(f"{path} is missing. Rebuild it with `python scripts/build_embedded_data.py` "
                        "(needs the Debian packages openclipart-png and dataset-fashion-mnist).")
    expected = {}
    for line in sums_file.read_text().splitlines():
        digest, name = line.split()
        expected[name] = digest
    if path.name not in expected:
        raise DataError(f"{path.name} is not listed in {sums_file}")
    actual = file_sha256(path)
    if actual != expected[path.name]:
        raise DataError(f"checksum mismatch for {path}: expected {expected[path.name]}, got {actual}. "
                        "The file is corrupt or was changed; rebuild it with scripts/build_embedded_data.py.")


@dataclass
class ImageDataset:
    """Images in [0, 1] as (N, 3, H, W) float32, integer labels and the class names they index."""
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    name: str = "dataset"
    skipped: list[str] = field(default_factory=list)  # unreadable files left out (full-scale folders)

    def __post_init__(self):
        if len(self.images) != len(self.labels):
            raise DataError(f"{self.name}: {len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index, name: str | None = None) -> "ImageDataset":
        index = torch.as_tensor(index)
        if index.dtype == torch.bool:
            index = index.nonzero().flatten()
        return ImageDataset(self.images[index], self.labels[index], self.class_names, name or self.name)

    @staticmethod
    def concat(parts: list["ImageDataset"], name: str) -> "ImageDataset":
        """The parts' images and labels one after another, with the first part's class names."""
        return ImageDataset(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]),
                            parts[0].class_names, name)

    def class_index(self, classes: list[str]) -> list[int]:
        unknown = [c for c in classes if c not in self.class_names]
        if unknown:
            raise DataError(f"{self.name}: unknown classes {unknown}; available: {self.class_names}")
        return [self.class_names.index(c) for c in classes]


@lru_cache(maxsize=4)
def _load_npz(path: str) -> dict:
    verify_checksum(Path(path))
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _to_float_images(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    if x.ndim == 3:  # grey (N, H, W) -> (N, 3, H, W)
        return x[:, None].expand(-1, 3, -1, -1).contiguous()
    return x.permute(0, 3, 1, 2).contiguous()


def load_clipart(split: str, size: int | None = None, data_dir: Path = DATA_DIR) -> ImageDataset:
    """The embedded clip-art set: 12 classes, 64x64 RGB composited on white. ``split`` is train|test.

    ``size`` < 64 area-downsamples (64 / size must be an integer: whole pixels average exactly)."""
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    d = _load_npz(str(data_dir / "clipart64.npz"))
    keep = d["is_test"] == (split == "test")
    images = _to_float_images(d["images"][keep])
    if size is not None and size != images.shape[-1]:
        if size > images.shape[-1] or images.shape[-1] % size:
            raise DataError(f"clip-art is 64 px; size must divide 64, got {size}")
        images = torch.nn.functional.avg_pool2d(images, images.shape[-1] // size)
    return ImageDataset(images, torch.from_numpy(d["labels"][keep]), [str(c) for c in d["class_names"]],
                        f"clipart{images.shape[-1]}/{split}")


def load_clipart_unlabelled(data_dir: Path = DATA_DIR) -> ImageDataset:
    """The other PNGs of ``openclipart-png`` (no class; labels -1), for self-supervised pre-training only.
    Not shipped: ``python scripts/build_embedded_data.py --unlabelled`` builds it, byte-identical to the
    checksum in ``data/UNLABELLED_SHA256SUMS``."""
    path = data_dir / "clipart64_unlabelled.npz"
    if not path.is_file():
        raise DataError(f"{path} is missing: build it with `python scripts/build_embedded_data.py --unlabelled` "
                        "(needs the Debian package openclipart-png)")
    verify_checksum(path, data_dir / "UNLABELLED_SHA256SUMS")
    with np.load(path, allow_pickle=False) as npz:
        images = _to_float_images(npz["images"])
    return ImageDataset(images, torch.full((len(images),), -1), [], "clipart64/unlabelled")


def load_fashion_mnist(split: str, pad_to: int = 32, data_dir: Path = DATA_DIR) -> ImageDataset:
    """The embedded Fashion-MNIST subset, zero-padded from 28 to ``pad_to`` and repeated to 3 channels."""
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    d = _load_npz(str(data_dir / "fashion_mnist.npz"))
    x = _to_float_images(d[f"{split}_images"])
    pad = (pad_to - x.shape[-1]) // 2
    if pad < 0:
        raise DataError(f"pad_to={pad_to} is smaller than the 28-pixel images")
    x = torch.nn.functional.pad(x, (pad, pad_to - 28 - pad, pad, pad_to - 28 - pad))
    return ImageDataset(x, torch.from_numpy(d[f"{split}_labels"]), [str(c) for c in d["class_names"]],
                        f"fashion_mnist/{split}")


def load_fashion_mnist64(split: str, size: int | None = None, data_dir: Path = DATA_DIR) -> ImageDataset:
    """Fashion-MNIST drawn as the clip-art is: dark garments on white, 64 px (padded to 32, inverted, upsampled
    x2 bilinearly), so that the clip-art models' configs, masks and white-padding augmentation apply unchanged.
    For the tiny MAGE's positive control (``scripts/mage_positive_control.py``) and the ``fashion`` profile.
    ``size``: the model's, which must be 64 (None: 64)."""
    if size not in (None, 64):
        raise DataError(f"fashion_mnist64 is drawn at 64 px only, got size {size}")
    data = load_fashion_mnist(split, pad_to=32, data_dir=data_dir)
    images = torch.nn.functional.interpolate(1 - data.images, scale_factor=2, mode="bilinear", align_corners=False)
    return ImageDataset(images.clamp(0, 1), data.labels, data.class_names, f"fashion_mnist64/{split}")


def synthetic_dataset(n_per_class: int = 8, num_classes: int = 4, size: int = 32, seed: int = 0) -> ImageDataset:
    """Coloured shapes on white, one colour per class: data for tests that must not depend on files."""
    g = torch.Generator().manual_seed(seed)
    colours = torch.rand(num_classes, 3, generator=g) * 0.8
    n = n_per_class * num_classes
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    images = torch.ones(n, 3, size, size)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centres = torch.rand(n, 2, generator=g) * size * 0.5 + size * 0.25
    radii = torch.rand(n, generator=g) * size * 0.2 + size * 0.15
    for i in range(n):
        disk = (yy - centres[i, 0]) ** 2 + (xx - centres[i, 1]) ** 2 <= radii[i] ** 2
        images[i][:, disk] = colours[labels[i]][:, None]
    return ImageDataset(images, labels, [f"class{c}" for c in range(num_classes)], "synthetic")


@dataclass(frozen=True)
class ClassSplit:
    """Which classes to forget, which to retain, and which serve as a proxy retain set.

    ``images_per_class`` caps the training images drawn per class (None = all); the draw is seeded.
    """
    forget: tuple[str, ...]
    retain: tuple[str, ...]
    proxy: tuple[str, ...] = ()
    images_per_class: int | None = None
    seed: int = 0

    def __post_init__(self):
        for name in ("forget", "retain"):
            if not getattr(self, name):
                raise DataError(f"the {name} class list is empty")
        groups = {"forget": set(self.forget), "retain": set(self.retain), "proxy": set(self.proxy)}
        for a, b in [("forget", "retain"), ("forget", "proxy"), ("retain", "proxy")]:
            both = groups[a] & groups[b]
            if both:
                raise DataError(f"classes {sorted(both)} are in both the {a} and the {b} set")
        for name, classes in [("forget", self.forget), ("retain", self.retain), ("proxy", self.proxy)]:
            if len(set(classes)) != len(classes):
                raise DataError(f"the {name} class list has duplicates: {list(classes)}")
        if self.images_per_class is not None and self.images_per_class < 1:
            raise DataError(f"images_per_class must be >= 1, got {self.images_per_class}")

    def select(self, data: ImageDataset, group: str, cap: bool = True) -> ImageDataset:
        """The images of ``data`` whose class is in ``group`` (forget|retain|proxy)."""
        classes = getattr(self, group)
        if not classes:
            raise DataError(f"the {group} class list is empty")
        return select_classes(data, classes, self.images_per_class if cap else None, self.seed, group)


def select_classes(data: ImageDataset, classes, images_per_class: int | None, seed: int, name: str) -> ImageDataset:
    """The images of ``data`` whose class is in ``classes``, at most ``images_per_class`` of each (None =
    all; a seeded draw, kept in the data's order), class by class; named ``<data.name>[<name>]``."""
    if images_per_class is not None and images_per_class < 1:
        raise DataError(f"images_per_class must be >= 1, got {images_per_class}")
    g = torch.Generator().manual_seed(seed)
    index = []
    for c in data.class_index(list(classes)):
        members = torch.nonzero(data.labels == c).flatten()
        if len(members) == 0:
            raise DataError(f"{data.name}: class {data.class_names[c]!r} has no images")
        if images_per_class is not None:
            members = members[torch.randperm(len(members), generator=g)[:images_per_class]].sort().values
        index.append(members)
    return data.subset(torch.cat(index), f"{data.name}[{name}]")
