import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from l2l_utils.data import (ClassSplit, DataError, load_clipart, load_clipart_unlabelled, load_fashion_mnist,
                            load_fashion_mnist64, synthetic_dataset, verify_checksum, DATA_DIR)


def test_clipart_shapes_and_ranges():
    train, test = load_clipart("train"), load_clipart("test")
    assert train.images.shape[1:] == (3, 64, 64) and test.images.shape[1:] == (3, 64, 64)
    assert len(train.class_names) == 12
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    # 40 held-out images in every class, and every class present in train
    assert torch.bincount(test.labels, minlength=12).tolist() == [40] * 12
    assert (torch.bincount(train.labels, minlength=12) > 40).all()


def test_fashion_mnist_padded_to_32():
    fm = load_fashion_mnist("test")
    assert fm.images.shape[1:] == (3, 32, 32)
    assert fm.images[:, :, :2, :].abs().max() == 0  # the padding is zero
    assert torch.bincount(fm.labels).tolist() == [500] * 10


def test_fashion_mnist64_is_the_padded_set_inverted_and_doubled():
    fm, fm64 = load_fashion_mnist("test"), load_fashion_mnist64("test")
    assert fm64.images.shape[1:] == (3, 64, 64) and torch.equal(fm64.labels, fm.labels)
    assert fm64.images[:, :, :3, :].min() == 1  # white padding, as the clip-art (its 4th row blends with the image)
    # Upsampling x2 keeps each image's mean brightness (up to the clamp): it is the inverted one's
    assert torch.allclose(fm64.images.mean((1, 2, 3)), 1 - fm.images.mean((1, 2, 3)), atol=2e-3)


def test_checksum_mismatch_is_a_clear_error(tmp_path):
    shutil.copy(DATA_DIR / "SHA256SUMS", tmp_path / "SHA256SUMS")
    data = (DATA_DIR / "clipart64.npz").read_bytes()
    (tmp_path / "clipart64.npz").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(DataError, match="checksum mismatch"):
        verify_checksum(tmp_path / "clipart64.npz")
    with pytest.raises(DataError, match="missing"):
        verify_checksum(tmp_path / "fashion_mnist_missing.npz")


def test_unlabelled_clipart_leaves_out_labelled_files_and_copies_of_test_images_and_loads_back(tmp_path,
                                                                                               project_module):
    build = project_module("scripts", "build_embedded_data")
    test_image, train_image, new_image = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    for name, image in [("a/test.png", test_image), ("a/train.png", train_image),
                        ("b/copy_of_test.png", test_image), ("b/new.png", new_image),
                        ("c/mirror_of_test.png", np.ascontiguousarray(test_image[:, ::-1]))]:
        (tmp_path / "png" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "png" / name)
    labelled = dict(images=np.stack([test_image, train_image]), is_test=np.array([True, False]),
                    source_files=np.array(["a/test.png", "a/train.png"]))
    out = build.build_unlabelled_clipart(tmp_path / "png", labelled)
    assert out["source_files"].tolist() == ["b/new.png"]
    # the same drawing in another folder, and its mirror image (pre-training flips images)
    assert out["left_out_near_test"].tolist() == ["b/copy_of_test.png", "c/mirror_of_test.png"]

    with pytest.raises(DataError, match="--unlabelled"):
        load_clipart_unlabelled(tmp_path)
    digest = build.save_npz(tmp_path / "clipart64_unlabelled.npz", out)
    (tmp_path / "UNLABELLED_SHA256SUMS").write_text(f"{digest}  clipart64_unlabelled.npz\n")
    data = load_clipart_unlabelled(tmp_path)
    assert data.labels.tolist() == [-1]
    assert torch.equal(data.images[0], torch.from_numpy(out["images"][0]).permute(2, 0, 1).float() / 255)
    (tmp_path / "UNLABELLED_SHA256SUMS").write_text(f"{'0' * 64}  clipart64_unlabelled.npz\n")
    with pytest.raises(DataError, match="checksum mismatch"):
        load_clipart_unlabelled(tmp_path)


def test_bad_split_name():
    with pytest.raises(DataError, match="split must be"):
        load_clipart("validation")


def test_class_split_rejects_overlap_empty_and_duplicates():
    with pytest.raises(DataError, match="both the forget and the retain"):
        ClassSplit(("a", "b"), ("b", "c"))
    with pytest.raises(DataError, match="forget class list is empty"):
        ClassSplit((), ("c",))
    with pytest.raises(DataError, match="retain and the proxy"):
        ClassSplit(("a",), ("c",), ("c",))
    with pytest.raises(DataError, match="duplicates"):
        ClassSplit(("a", "a"), ("c",))
    with pytest.raises(DataError, match="images_per_class"):
        ClassSplit(("a",), ("c",), images_per_class=0)


def test_class_split_selects_capped_seeded_subsets():
    data = synthetic_dataset(n_per_class=10, num_classes=4)
    split = ClassSplit(("class0",), ("class1", "class2"), ("class3",), images_per_class=3, seed=1)
    forget, retain = split.select(data, "forget"), split.select(data, "retain")
    assert forget.labels.tolist() == [0] * 3
    assert sorted(set(retain.labels.tolist())) == [1, 2] and len(retain) == 6
    again = split.select(data, "retain")
    assert torch.equal(retain.images, again.images)
    other_seed = ClassSplit(("class0",), ("class1", "class2"), images_per_class=3, seed=2).select(data, "retain")
    assert not torch.equal(retain.images, other_seed.images)
    with pytest.raises(DataError, match="unknown classes"):
        ClassSplit(("nope",), ("class1",)).select(data, "forget")
