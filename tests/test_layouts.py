"""The full-scale dataset layouts, on miniature trees the tests write in the official formats."""
import pytest
import torch
from PIL import Image

from l2l_utils.data import DataError
from l2l_utils.experiment import load_experiment_data
from l2l_utils.image_files import read_image
from l2l_utils.imagenet import load_imagenet
from l2l_utils.places import load_places, other_classes
from l2l_utils.profiles import get_profile
from l2l_utils.splits import PLACES_FORGET, PLACES_RETAIN

CATEGORIES = ["/a/airfield", "/b/badlands", "/d/desert/sand", "/k/kitchen"]


def _jpeg(path, seed, width=50):
    path.parent.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    Image.fromarray((torch.rand(40, width, 3, generator=g) * 255).byte().numpy()).save(path)


def _corrupt(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")


def _places_tree(root, per_class=3, refolder_val=False):
    root.mkdir(parents=True, exist_ok=True)
    (root / "categories_places365.txt").write_text("".join(f"{c} {i}\n" for i, c in enumerate(CATEGORIES)))
    listing = []
    for i, c in enumerate(CATEGORIES):
        for k in range(per_class):
            _jpeg(root / "train_256" / c.strip("/") / f"{k:08d}.jpg", 10 * i + k)
            name = f"Places365_val_{i * per_class + k + 1:08d}.jpg"
            folder = root / "val_256" / c.strip("/") if refolder_val else root / "val_256"
            _jpeg(folder / name, 100 + 10 * i + k)
            listing.append(f"{name} {i}\n")
    if not refolder_val:
        (root / "places365_val.txt").write_text("".join(listing))


def test_places_official_layout(tmp_path):
    _places_tree(tmp_path)
    train = load_places(tmp_path, "train", ["kitchen", "desert/sand"], images_per_class=2, size=32)
    assert train.images.shape == (4, 3, 32, 32) and train.labels.tolist() == [0, 0, 1, 1]
    val = load_places(tmp_path, "val", ["badlands"], images_per_class=None, size=32)
    assert len(val) == 3
    # class index 1 owns val files 4-6 in the listing; the first of them comes first
    assert torch.equal(val.images[0], read_image(tmp_path / "val_256" / "Places365_val_00000004.jpg", 32))
    assert other_classes(tmp_path, ["kitchen", "badlands"]) == ["airfield", "desert/sand"]


def test_places_refoldered_val_gives_the_same_images(tmp_path):
    _places_tree(tmp_path / "flat")
    _places_tree(tmp_path / "refoldered", refolder_val=True)
    a = load_places(tmp_path / "flat", "val", ["kitchen", "airfield"], None, size=32)
    b = load_places(tmp_path / "refoldered", "val", ["kitchen", "airfield"], None, size=32)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_places_bad_trees_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="categories_places365.txt"):
        load_places(tmp_path, "train", ["kitchen"], 2)
    _places_tree(tmp_path)
    with pytest.raises(DataError, match="unknown Places365 classes"):
        load_places(tmp_path, "train", ["moon_base"], 2)
    (tmp_path / "places365_val.txt").write_text("Places365_val_00000001.jpg kitchen\n")
    with pytest.raises(DataError, match="places365_val.txt:1"):
        load_places(tmp_path, "val", ["kitchen"], 2)
    (tmp_path / "categories_places365.txt").write_text("airfield 0\n")
    with pytest.raises(DataError, match="categories_places365.txt:1"):
        load_places(tmp_path, "train", ["airfield"], 2)
    with pytest.raises(DataError, match="data_root"):
        load_experiment_data(get_profile("places"))


def test_corrupt_files_are_skipped_and_counted(tmp_path):
    _places_tree(tmp_path)
    _corrupt(tmp_path / "train_256" / "k" / "kitchen" / "00000001.jpg")  # replaces a good file
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        data = load_places(tmp_path, "train", ["kitchen", "airfield"], None, size=32)
    assert len(data) == 5 and data.labels.tolist() == [0, 0, 1, 1, 1]
    assert data.skipped == [str(tmp_path / "train_256" / "k" / "kitchen" / "00000001.jpg")]

    for i in range(3):
        _jpeg(tmp_path / "in" / "train" / "n01" / f"a{i}.JPEG", i)
    _corrupt(tmp_path / "in" / "train" / "n01" / "bad.JPEG")
    with pytest.warns(UserWarning, match="skipped 1"):
        data = load_imagenet(tmp_path / "in", "train", ["n01"], None, size=32)
    assert len(data) == 3 and len(data.skipped) == 1
    _corrupt(tmp_path / "in" / "train" / "n02" / "only.JPEG")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no readable image"):
        load_imagenet(tmp_path / "in", "train", ["n02"], None, size=32)


def test_places_default_split_is_the_released_class_list():
    assert len(PLACES_RETAIN) == 49 and len(PLACES_FORGET) == 50
    assert PLACES_RETAIN[0] == "badlands" and PLACES_FORGET[-1] == "youth_hostel"
    assert not set(PLACES_RETAIN) & set(PLACES_FORGET)


def test_experiment_data_reads_the_places_profile_from_a_tree(tmp_path):
    _places_tree(tmp_path)
    cfg = get_profile("places", data_root=str(tmp_path), forget=["kitchen"], retain=["badlands", "airfield"],
                      images_per_class=2, test_images_per_class=1)
    data = load_experiment_data(cfg, image_size=32, proxy=False)
    assert {k: len(v) for k, v in data.items()} == {"forget_train": 2, "retain_train": 4, "forget_test": 1,
                                                    "retain_test": 2}
    assert data["forget_test"].images.shape[-1] == 32
    proxy = load_experiment_data(cfg, image_size=32)["proxy_train"]  # "rest": every other category
    assert proxy.class_names == ["desert/sand"] and len(proxy) == 2


def test_coco_train2017_as_a_proxy_pool(tmp_path):
    from l2l_utils.image_files import load_coco
    for i in range(5):
        _jpeg(tmp_path / "coco" / "train2017" / f"{i:012d}.jpg", i)
    pool = load_coco(tmp_path / "coco", 3, size=32, seed=1)
    assert len(pool) == 3 and pool.class_names == ["coco"] and pool.images.shape[1:] == (3, 32, 32)
    assert torch.equal(pool.images, load_coco(tmp_path / "coco", 3, size=32, seed=1).images)  # seeded
    with pytest.raises(DataError, match="train2017"):
        load_coco(tmp_path / "nowhere", 3, size=32)
    _places_tree(tmp_path / "places")
    cfg = get_profile("places", data_root=str(tmp_path / "places"), forget=["kitchen"], retain=["badlands"],
                      images_per_class=1, test_images_per_class=1, proxy="coco", coco_root=str(tmp_path / "coco"),
                      coco_images=4)
    assert len(load_experiment_data(cfg, image_size=32)["proxy_train"]) == 4
