"""Build the embedded default data shipped in ``data/`` from two Debian packages.

    apt-get install -y openclipart-png dataset-fashion-mnist
    python scripts/build_embedded_data.py

* ``data/clipart64.npz``: colour clip art from ``openclipart-png`` (public domain), 12 categories,
  alpha-composited on white, letterboxed to a square and resized to 64x64 (Lanczos).
* ``data/fashion_mnist.npz``: a class-balanced subset of ``dataset-fashion-mnist`` (MIT), 28x28 grey.
* ``--unlabelled``: ``data/clipart64_unlabelled.npz``, every other PNG of ``openclipart-png`` for the
  MAGE transformer's self-supervised pre-training; not shipped (its checksum is in data/UNLABELLED_SHA256SUMS).

Selection is seeded and file lists are sorted, so the output is byte-identical on every run.
The SHA-256 of each file is written to ``data/SHA256SUMS``; the loader refuses files that differ.
"""
import argparse
import gzip
import io
from pathlib import Path

import numpy as np
from PIL import Image

from l2l_utils.io import file_sha256

CLIPART_ROOT = Path("/usr/share/openclipart/png")
FMNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
# The 12 categories with >= 95 images, leaving out the two the package itself labels catch-all
# ("special", "unsorted").
CLIPART_CLASSES = [
    "animals", "computer", "food", "geography", "office", "people", "plants", "recreation",
    "shapes", "signs_and_symbols", "tools", "transportation",
]
MAX_PER_CLASS = 400
TEST_PER_CLASS = 40
FMNIST_TRAIN_PER_CLASS = 2000
FMNIST_TEST_PER_CLASS = 500
SIZE = 64


def load_clipart_image(path: Path) -> np.ndarray:
    img = Image.open(path)
    img.load()
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    side = max(rgb.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(rgb, ((side - rgb.size[0]) // 2, (side - rgb.size[1]) // 2))
    return np.asarray(square.resize((SIZE, SIZE), Image.LANCZOS), dtype=np.uint8)


def build_clipart(root: Path, seed: int):
    rng = np.random.default_rng(seed)
    images, labels, is_test, names = [], [], [], []
    for label, cls in enumerate(CLIPART_CLASSES):
        files = sorted((root / cls).rglob("*.png"))
        chosen = []
        for i in rng.permutation(len(files)):
            try:  # a few files are multi-gigapixel; PIL refuses them and so do we
                chosen.append((files[i], load_clipart_image(files[i])))
            except Image.DecompressionBombError:
                continue
            if len(chosen) == MAX_PER_CLASS:
                break
        chosen.sort(key=lambda t: t[0])
        test_idx = set(rng.permutation(len(chosen))[:TEST_PER_CLASS].tolist())
        for i, (f, image) in enumerate(chosen):
            images.append(image)
            labels.append(label)
            is_test.append(i in test_idx)
            names.append(str(f.relative_to(root)))
    return dict(images=np.stack(images), labels=np.array(labels, np.int64),
                is_test=np.array(is_test), class_names=np.array(CLIPART_CLASSES),
                source_files=np.array(names))


def build_unlabelled_clipart(root: Path, labelled: dict, near: float = 1e-3) -> dict:
    """Every other PNG of the package, from every folder, for self-supervised pre-training only (MAGE's
    needs no labels). Files of ``labelled`` are left out, and so is any image within mean squared
    distance ``near`` ([0, 1] pixels) of one of its test images or their mirror images: the package
    holds some drawings in several folders, and a test image must not be pre-trained on."""
    used = set(labelled["source_files"].tolist())
    test = labelled["images"][labelled["is_test"]]
    # pre-training also sees mirror images, so a mirror of a test image counts as a copy of it
    test = np.concatenate([test, test[:, :, ::-1]]).reshape(2 * len(test), -1) / 255.0
    images, names, near_test = [], [], []
    for f in sorted(root.rglob("*.png")):
        name = str(f.relative_to(root))
        if name in used:
            continue
        try:
            image = load_clipart_image(f)
        except Image.DecompressionBombError:
            continue
        if ((test - image.reshape(1, -1) / 255.0) ** 2).mean(1).min() < near:
            near_test.append(name)
            continue
        images.append(image)
        names.append(name)
    return dict(images=np.stack(images), source_files=np.array(names), left_out_near_test=np.array(near_test))


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def balanced_subset(labels: np.ndarray, per_class: int, rng) -> np.ndarray:
    idx = [np.sort(rng.permutation(np.flatnonzero(labels == c))[:per_class]) for c in range(10)]
    return np.concatenate(idx)


def build_fashion_mnist(root: Path, seed: int):
    rng = np.random.default_rng(seed)
    out = {}
    for split, prefix, per_class in [("train", "train", FMNIST_TRAIN_PER_CLASS),
                                     ("test", "t10k", FMNIST_TEST_PER_CLASS)]:
        x = read_idx(root / f"{prefix}-images-idx3-ubyte.gz")
        y = read_idx(root / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
        keep = balanced_subset(y, per_class, rng)
        out[f"{split}_images"], out[f"{split}_labels"] = x[keep], y[keep]
        out[f"{split}_source_index"] = keep
    out["class_names"] = np.array(["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"])
    return out


def save_npz(path: Path, arrays: dict) -> str:
    # np.savez_compressed stamps zip entries with the current time; write through a fixed-date
    # zip so the bytes (and so the checksum) are the same on every build.
    import zipfile
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.save(buf, value, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    return file_sha256(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unlabelled", action="store_true",
                    help="build only clipart64_unlabelled.npz (not shipped) from the package and data/clipart64.npz")
    args = ap.parse_args()
    packages = [(CLIPART_ROOT, "openclipart-png")]
    if not args.unlabelled:
        packages.append((FMNIST_ROOT, "dataset-fashion-mnist"))
    for root, pkg in packages:
        if not root.is_dir():
            raise SystemExit(f"{root} not found: install the Debian package with `apt-get install -y {pkg}`")
    if args.unlabelled:
        with np.load(args.out / "clipart64.npz", allow_pickle=False) as npz:
            labelled = {k: npz[k] for k in npz.files}
        path = args.out / "clipart64_unlabelled.npz"
        digest = save_npz(path, build_unlabelled_clipart(CLIPART_ROOT, labelled))
        (args.out / "UNLABELLED_SHA256SUMS").write_text(f"{digest}  {path.name}\n")
        print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB sha256={digest}")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    sums = {}
    sums["clipart64.npz"] = save_npz(args.out / "clipart64.npz", build_clipart(CLIPART_ROOT, args.seed))
    sums["fashion_mnist.npz"] = save_npz(args.out / "fashion_mnist.npz", build_fashion_mnist(FMNIST_ROOT, args.seed))
    (args.out / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))
    for n, h in sums.items():
        print(f"{n}: {(args.out / n).stat().st_size / 1e6:.1f} MB sha256={h}")


if __name__ == "__main__":
    main()
