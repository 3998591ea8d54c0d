"""Data for SalUn classification: datasets, the train/val split, forgetting scenarios, batches.

* ``embedded``: the shipped Fashion-MNIST subset padded to 32x32x3 (offline-ecosystem §5, the
  CIFAR-10 stand-in), a seeded class-balanced subsample of its train and test parts.
* ``cifar10``: CIFAR-10 from the standard ``cifar-10-batches-py`` folder (or torchvision's download
  when online), split as the released code does (protocol §2 "Data"): 10 % of each class held out
  as validation, 45,000 train / 5,000 val / 10,000 test.

Scenarios (protocol §3): random forgetting of a fraction of the train set, or a whole class.
One seed draws the train/val split and the forget set (decision 7: shared split seed).
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from l2l_utils.data import DataError, ImageDataset, load_fashion_mnist

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def balanced_subset(data: ImageDataset, per_class: int | None, generator: torch.Generator) -> ImageDataset:
    """``per_class`` images of every class, drawn without replacement (None keeps everything)."""
    if per_class is None:
        return data
    index = []
    for c in range(len(data.class_names)):
        members = torch.nonzero(data.labels == c).flatten()
        if len(members) < per_class:
            raise DataError(f"{data.name}: class {data.class_names[c]!r} has {len(members)} images, "
                            f"fewer than the {per_class} requested")
        index.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return data.subset(torch.cat(index).sort().values)


def holdout_split(data: ImageDataset, fraction: float, generator: torch.Generator) -> tuple[ImageDataset, ImageDataset]:
    """(train, val): ``fraction`` of each class goes to val, as the released code's 45k/5k split."""
    val = torch.zeros(len(data), dtype=torch.bool)
    for c in range(len(data.class_names)):
        members = torch.nonzero(data.labels == c).flatten()
        chosen = members[torch.randperm(len(members), generator=generator)[:round(fraction * len(members))]]
        val[chosen] = True
    return data.subset(~val, f"{data.name}[train]"), data.subset(val, f"{data.name}[val]")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    return d[b"data"].reshape(-1, 3, 32, 32), np.asarray(d[b"labels"], dtype=np.int64)


def load_cifar10(root: str | Path | None, download: bool = False) -> tuple[ImageDataset, ImageDataset]:
    """(train 50k, test 10k) from ``root/cifar-10-batches-py`` (or ``root`` itself being that folder)."""
    if root is None:
        raise DataError("the cifar10 profile needs data_root: a folder holding cifar-10-batches-py/ "
                        "(data_batch_1..5, test_batch), or set download=True when online")
    root = Path(root)
    folder = root if (root / "data_batch_1").is_file() else root / "cifar-10-batches-py"
    if not (folder / "data_batch_1").is_file() and download:
        import torchvision
        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
        folder = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(f"{folder} lacks {missing}. Expected the python version of CIFAR-10: "
                        "<data_root>/cifar-10-batches-py/{data_batch_1..5,test_batch} "
                        "(https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz), or download=True")

    def as_dataset(parts, name):
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        return ImageDataset(torch.from_numpy(x).float().div_(255.0), torch.from_numpy(y), CIFAR10_CLASSES, name)

    return (as_dataset([_read_cifar_batch(folder / n) for n in names[:5]], "cifar10/train"),
            as_dataset([_read_cifar_batch(folder / names[5])], "cifar10/test"))


def load_datasets(settings: dict, seed: int) -> dict[str, ImageDataset]:
    """{"train", "val" (may be empty), "test"} for the settings' dataset (``SALUN_SETTINGS``)."""
    g = torch.Generator().manual_seed(seed)
    if settings["dataset"] == "fashion_mnist":
        train = balanced_subset(load_fashion_mnist("train", pad_to=32), settings["train_per_class"], g)
        test = balanced_subset(load_fashion_mnist("test", pad_to=32), settings["test_per_class"], g)
    elif settings["dataset"] == "cifar10":
        train, test = load_cifar10(settings["data_root"], settings.get("download", False))
    else:
        raise DataError(f"unknown dataset {settings['dataset']!r}; choose fashion_mnist or cifar10")
    train, val = holdout_split(train, settings["val_fraction"], g)
    return {"train": train, "val": val, "test": test}


@dataclass
class Scenario:
    """A forgetting request on a train set: D_f and D_r, and the test set TA is measured on."""
    name: str
    forget: ImageDataset
    retain: ImageDataset
    test: ImageDataset
    forget_class: int | None = None


def make_scenario(train: ImageDataset, test: ImageDataset, kind: str, seed: int,
                  ratio: float = 0.1, forget_class: int = 0) -> Scenario:
    """``kind`` = "random" (a seeded ``ratio`` of the train set) or "class" (all of ``forget_class``).

    Class-wise: TA is measured on the other classes' test images (protocol §3/§4).
    """
    if kind == "random":
        if not 0 < ratio < 1:
            raise ValueError(f"ratio must be in (0, 1), got {ratio}")
        g = torch.Generator().manual_seed(seed)
        n_forget = round(ratio * len(train))
        is_forget = torch.zeros(len(train), dtype=torch.bool)
        is_forget[torch.randperm(len(train), generator=g)[:n_forget]] = True
        name = f"random_{round(100 * ratio)}"
        return Scenario(name, train.subset(is_forget, "D_f"), train.subset(~is_forget, "D_r"), test)
    if kind == "class":
        if not 0 <= forget_class < len(train.class_names):
            raise ValueError(f"forget_class {forget_class} is not a class of {train.name}")
        is_forget = train.labels == forget_class
        return Scenario(f"class_{train.class_names[forget_class]}", train.subset(is_forget, "D_f"),
                        train.subset(~is_forget, "D_r"), test.subset(test.labels != forget_class, "test[remain]"),
                        forget_class)
    raise ValueError(f"unknown scenario kind {kind!r}; choose random or class")


def augment(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """The training augmentation of the released code: random crop (32, padding 4) + horizontal flip."""
    n, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, generator: torch.Generator | None = None,
            shuffle: bool = False, augment_images: bool = False):
    """Yield (x, y) minibatches; ``shuffle`` and ``augment_images`` draw from ``generator``."""
    order = torch.randperm(len(labels), generator=generator) if shuffle else torch.arange(len(labels))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        x = images[idx]
        yield (augment(x, generator) if augment_images else x), labels[idx]
