"""Places365-Standard in its official layout, read into an ``ImageDataset`` for the ``places`` profile.

Layout (the 256 x 256 "small images" release)::

    <root>/categories_places365.txt      "/a/airfield 0" ... one line per class, 365 lines
    <root>/train_256/a/airfield/*.jpg    (the tarball's data_256/ is accepted too)
    <root>/val_256/Places365_val_00000001.jpg ...   flat, 100 images per class
    <root>/places365_val.txt             "Places365_val_00000001.jpg 165" (file -> class index)

or ``val_256`` re-foldered by class as the i2i code's ``process_data.py`` leaves it
(``val_256/<letter>/<class>/*.jpg``; then ``places365_val.txt`` is not needed).

Classes are named as in the i2i code's class list, i.e. the category path without its letter
folder: ``/d/desert/sand`` -> ``desert/sand``. Images are the first N in sorted name order
(protocol decision 15); unreadable files are skipped and counted (``ImageDataset.skipped``).
"""
from __future__ import annotations

from pathlib import Path

from l2l_utils.data import DataError, ImageDataset
from l2l_utils.image_files import IMAGE_SUFFIXES, image_files, read_classes

LAYOUT = ("<root>/categories_places365.txt, <root>/train_256/<letter>/<class>/*.jpg, "
          "<root>/val_256/*.jpg and <root>/places365_val.txt")
TRAIN_DIRS = ("train_256", "data_256")


def read_categories(root: Path) -> dict[str, tuple[int, str]]:
    """class name -> (index, category path) from ``categories_places365.txt``."""
    path = root / "categories_places365.txt"
    if not path.is_file():
        raise DataError(f"{path} not found; expected the Places365-Standard layout {LAYOUT}")
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or not parts[0].startswith("/"):
            raise DataError(f"{path}:{n}: expected '/<letter>/<class> <index>', got {line!r}")
        category = parts[0].strip("/")
        out[category.split("/", 1)[1]] = (int(parts[1]), category)
    return out


def _val_files(root: Path) -> dict[int, list[Path]]:
    listing, folder = root / "places365_val.txt", root / "val_256"
    if not listing.is_file() or not folder.is_dir():
        raise DataError(f"{listing} or {folder} not found; expected {LAYOUT}")
    by_class: dict[int, list[Path]] = {}
    for n, line in enumerate(listing.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit() or Path(parts[0]).suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"{listing}:{n}: expected '<file>.jpg <class index>', got {line!r}")
        by_class.setdefault(int(parts[1]), []).append(folder / parts[0])
    return {k: sorted(v) for k, v in by_class.items()}


def load_places(root: str | Path | None, split: str, classes: list[str], images_per_class: int | None,
                size: int = 256) -> ImageDataset:
    """``split`` 'train' or 'val'; ``classes`` by name (see the module docstring)."""
    if root is None:
        raise DataError(f"the places profile needs data_root: a folder laid out as {LAYOUT}")
    root = Path(root)
    categories = read_categories(root)
    unknown = [c for c in classes if c not in categories]
    if unknown:
        raise DataError(f"unknown Places365 classes {unknown[:5]} (not in categories_places365.txt)")
    if split == "train":
        train_dir = next((root / d for d in TRAIN_DIRS if (root / d).is_dir()), None)
        if train_dir is None:
            raise DataError(f"no {' or '.join(TRAIN_DIRS)} folder in {root}; expected {LAYOUT}")
        files_of = {c: image_files(train_dir / categories[c][1]) for c in classes}
    elif split == "val":
        refoldered = all((root / "val_256" / categories[c][1]).is_dir() for c in classes)
        if refoldered:
            files_of = {c: image_files(root / "val_256" / categories[c][1]) for c in classes}
        else:
            val = _val_files(root)
            files_of = {c: val.get(categories[c][0], []) for c in classes}
    else:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    for c in classes:
        if not files_of[c]:
            raise DataError(f"no {split} images of class {c!r} in {root} ({LAYOUT})")
    return read_classes({c: files_of[c][:images_per_class] for c in classes}, size, f"places/{split}")


def other_classes(root: str | Path, exclude) -> list[str]:
    """Every category not in ``exclude``, in file order: the released code's proxy pool (266 classes)."""
    return [c for c in read_categories(Path(root)) if c not in set(exclude)]
