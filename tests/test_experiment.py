import pytest
import torch
from PIL import Image

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import DataError
from l2l_utils.experiment import load_experiment_data
from l2l_utils.imagenet import load_imagenet
from l2l_utils.metrics.classifier import get_is_classifier
from l2l_utils.profiles import get_profile


def test_profiles_and_overrides():
    smoke = get_profile("smoke", alpha=0.5, unlearn_steps=None)
    assert smoke["alpha"] == 0.5 and smoke["unlearn_steps"] == get_profile("smoke")["unlearn_steps"]
    assert smoke["profile"] == "smoke"
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("huge")
    with pytest.raises(ValueError, match="unknown settings"):
        get_profile("smoke", learning_rate=1.0)


def test_smoke_data_respects_the_split():
    cfg = get_profile("smoke")
    data = load_experiment_data(cfg)
    names = data["forget_test"].class_names
    assert {names[i] for i in data["forget_test"].labels.tolist()} == set(cfg["forget"])
    assert {names[i] for i in data["retain_train"].labels.tolist()} == set(cfg["retain"])
    assert len(data["forget_test"]) == 8 * len(cfg["forget"])
    assert len(data["retain_train"]) == 16 * len(cfg["retain"])


def test_fashion_profile_splits_the_shipped_fashion_mnist_by_label_order_and_loads_its_models():
    from l2l_utils.experiment import load_base_model, variant_name
    cfg = get_profile("fashion")
    base = load_base_model(cfg, "mage")
    data = load_experiment_data(cfg, image_size=base.image_size)
    names = data["forget_test"].class_names
    assert cfg["forget"] + cfg["retain"] + cfg["proxy"] == names  # the labels in order, 3 / 4 / 3
    for group, per_class in (("forget", 300), ("retain", 300), ("proxy", 300)):
        labels = data[f"{group}_train"].labels
        assert {names[i] for i in labels.tolist()} == set(cfg[group])
        assert torch.bincount(labels, minlength=10)[labels.unique()].tolist() == [per_class] * len(cfg[group])
    assert len(data["forget_test"]) == 40 * 3 and len(data["retain_test"]) == 40 * 4
    images = data["retain_test"].images
    assert images.shape[1:] == (3, 64, 64) and images.min() >= 0 and images.max() <= 1
    assert images.mean() > 0.5  # dark garments on white, as the clip-art models expect
    assert base.num_iter == cfg["mage_num_iter"] and base.mage.seq_len == 8 * 8
    assert get_is_classifier(cfg["is_classifier"]).class_names == names
    assert variant_name("03_unlearn_vqgan", cfg, "mage") == "03_unlearn_vqgan"
    other = get_profile("fashion", mage_checkpoint="checkpoints/mage_tiny_long_fashion_mnist64.pt")  # never read
    assert variant_name("03_unlearn_vqgan", other, "mage") == "03_unlearn_vqgan-tiny_long"
    with pytest.raises(FileNotFoundError, match="profile 'fashion' has no mae checkpoint"):
        load_base_model(cfg, "mae")
    with pytest.raises(ValueError, match="embedded clip-art"):
        load_base_model(cfg, "mage", retrain=True)
    with pytest.raises(DataError, match="64 px only"):
        load_experiment_data(cfg, image_size=32)


def _jpeg_tree(root, split, wnids, n):
    g = torch.Generator().manual_seed(0)
    for wnid in wnids:
        (root / split / wnid).mkdir(parents=True)
        for i in range(n):
            arr = (torch.rand(40, 50 + i, 3, generator=g) * 255).byte().numpy()
            Image.fromarray(arr).save(root / split / wnid / f"{wnid}_{i}.JPEG")


def test_imagenet_layout_reader(tmp_path):
    _jpeg_tree(tmp_path, "train", ["n01", "n02"], 3)
    data = load_imagenet(tmp_path, "train", ["n02", "n01"], images_per_class=2, size=32)
    assert data.images.shape == (4, 3, 32, 32) and data.labels.tolist() == [0, 0, 1, 1]
    assert data.class_names == ["n02", "n01"]
    with pytest.raises(DataError, match="train/<wnid>"):
        load_imagenet(tmp_path, "val", ["n01"], 2)
    with pytest.raises(DataError, match="n03"):
        load_imagenet(tmp_path, "train", ["n03"], 2)


def test_imagenet_profile_without_data_root_is_a_clear_error():
    with pytest.raises(DataError, match="data_root"):
        load_experiment_data(get_profile("imagenet"))


def test_inception_is_classifier_wiring_without_real_weights(tmp_path, monkeypatch):
    from torchvision.models import inception_v3
    torch.manual_seed(0)
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), tmp_path / "w.pth")
    clf = get_is_classifier("inception_v3", tmp_path / "w.pth")
    assert clf(torch.rand(2, 3, 64, 64)).shape == (2, 1000)
    with pytest.raises(FileNotFoundError):
        get_is_classifier("inception_v3", tmp_path / "absent.pth")

    def offline(**kw):
        raise OSError("no network")
    monkeypatch.setattr("torchvision.models.inception_v3", offline)
    with pytest.raises(RuntimeError, match="is_classifier_weights"):
        get_is_classifier("inception_v3")


def test_retraining_is_for_the_embedded_clipart_only():
    from l2l_utils.experiment import load_base_model
    with pytest.raises(ValueError, match="embedded clip-art"):
        load_base_model(get_profile("imagenet"), retrain=True)


@pytest.mark.parametrize("family, module, trainers", [
    ("mae", "l2l_utils.pretrain", ["pretrain_mae"]),
    ("mage", "l2l_utils.pretrain_mage", ["pretrain_vqgan", "pretrain_mage"]),
    ("palette", "l2l_utils.pretrain_palette", ["pretrain_palette"])])
def test_the_retrain_oracle_never_sees_the_forget_classes(monkeypatch, tmp_path, family, module, trainers):
    import importlib

    import l2l_utils.experiment as experiment
    from l2l_utils.data import load_clipart
    from l2l_utils.experiment import load_base_model
    module = importlib.import_module(module)
    seen, recipe = [], []

    def spy(real):
        def train(data, *args, **kwargs):
            seen.append(({data.class_names[i] for i in data.labels.unique().tolist()}, len(data)))
            recipe.append((kwargs["steps"], kwargs["seed"], kwargs.get("lr")))
            return real(data, *args, **kwargs)
        return train
    for name in trainers:
        monkeypatch.setattr(module, name, spy(getattr(module, name)))
    monkeypatch.setattr(experiment, "PROJECT_ROOT", tmp_path)  # no cached model from an earlier run
    cfg = get_profile("smoke", pretrain_steps=1)
    oracle = load_base_model(cfg, family, retrain=True, seed=11, without=cfg["forget"])
    shipped = load_base_model(cfg, family)
    assert type(oracle) is type(shipped) and oracle.image_size == shipped.image_size
    train = load_clipart("train")
    kept_per_class = torch.bincount(train.labels)[~torch.isin(torch.arange(len(train.class_names)),
                                                              torch.tensor(train.class_index(cfg["forget"])))]
    kept = int(kept_per_class.clamp(max=cfg["oracle_images_per_class"]).sum())  # smoke caps each class
    stages = {"mae": 1, "mage": len(cfg["mage_pretrain_steps"]), "palette": len(cfg["palette_pretrain_stages"])}[family]
    assert seen == [(set(train.class_names) - set(cfg["forget"]), kept)] * stages
    # the profile's recipe, stage by stage, at the requested seed (the shipped cards' step counts at embedded)
    expected = {"mae": [(1, None)], "mage": [(n, None) for n in cfg["mage_pretrain_steps"]],
                "palette": [tuple(stage) for stage in cfg["palette_pretrain_stages"]]}[family]
    assert recipe == [(steps, 11, lr) for steps, lr in expected]
    # the second call reuses the cached model instead of training again
    load_base_model(cfg, family, retrain=True, seed=11, without=cfg["forget"])
    assert len(seen) == stages


def test_the_embedded_oracle_trains_on_every_image_of_the_kept_classes_in_order(monkeypatch, tmp_path):
    import l2l_utils.experiment as experiment
    import l2l_utils.pretrain as pretrain
    from l2l_utils.data import load_clipart

    class Stop(Exception):  # the data handed to training is what is checked; training is tested elsewhere
        pass

    def capture(data, *args, **kwargs):
        raise Stop(data)
    monkeypatch.setattr(pretrain, "pretrain_mae", capture)
    monkeypatch.setattr(experiment, "PROJECT_ROOT", tmp_path)
    cfg = get_profile("embedded")
    assert cfg["oracle_images_per_class"] is None
    with pytest.raises(Stop) as stop:
        experiment._retrained(cfg, "mae", 0, ("animals", "food"))
    train, seen = load_clipart("train"), stop.value.args[0]
    kept = ~torch.isin(train.labels, torch.tensor(train.class_index(["animals", "food"])))
    torch.testing.assert_close(seen.images, train.images[kept], rtol=0, atol=0)
    assert torch.equal(seen.labels, train.labels[kept])
    with pytest.raises(DataError, match="unknown classes"):  # a typo must not retrain on everything
        experiment._retrained(cfg, "mae", 0, ("animal",))


def test_the_mage_oracle_learns_from_the_context_the_model_it_stands_beside_learnt_from(monkeypatch, tmp_path):
    import l2l_utils.experiment as experiment
    import l2l_utils.pretrain_mage as pretrain_mage
    from l2l_utils.models.mage import load_mage_checkpoint
    cfg = get_profile("smoke")
    saved = torch.load(cfg["mage_checkpoint"], weights_only=True)
    for filled in (False, True):
        saved["meta"]["mage"]["filled_context"] = filled
        torch.save(saved, tmp_path / f"filled_{filled}.pt")
    shipped, recipes = load_mage_checkpoint(cfg["mage_checkpoint"], "tiny"), []

    def fake_pretrain_mage(*args, **kwargs):  # the recipe is what is checked; training is tested elsewhere
        recipes.append(kwargs["filled_context"])
        return shipped, {}
    monkeypatch.setattr(pretrain_mage, "pretrain_vqgan", lambda *args, **kwargs: (shipped.mage.vqgan, {}))
    monkeypatch.setattr(pretrain_mage, "pretrain_mage", fake_pretrain_mage)
    monkeypatch.setattr(experiment, "PROJECT_ROOT", tmp_path)
    transformer_stages = len(cfg["mage_pretrain_steps"]) - 1
    for filled in (False, True):
        path = experiment._retrained({**cfg, "mage_checkpoint": str(tmp_path / f"filled_{filled}.pt")}, "mage", 0,
                                     ("animals",))
        assert path.is_file() and ("filledctx" in path.name) is filled
        assert recipes[-transformer_stages:] == [filled] * transformer_stages


def test_places365_is_classifier_wiring_without_real_weights(tmp_path):
    from torchvision.models import resnet50
    torch.manual_seed(0)
    net = resnet50(num_classes=365)
    # the CSAIL checkpoint layout: {'state_dict': ...} with DataParallel's module. prefix
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "places.pth.tar")
    clf = get_is_classifier("resnet50_places365", tmp_path / "places.pth.tar")
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        expected = net.eval()((x[..., 16:240, 16:240] - clf.mean) / clf.std)
        torch.testing.assert_close(clf(x), expected)
    with pytest.raises(FileNotFoundError, match="resnet50_places365"):
        get_is_classifier("resnet50_places365")


def test_shipped_base_models_of_every_family_load_with_profile_settings():
    from l2l_utils.experiment import load_base_model
    cfg = get_profile("smoke")
    mage = load_base_model(cfg, "mage")
    assert mage.num_iter == cfg["mage_num_iter"] and mage.image_size == 64
    palette = load_base_model(cfg, "palette")
    assert palette.sample_steps == cfg["palette_sample_steps"] and palette.image_size == 32
    f4 = load_base_model(get_profile("smoke", mage_config="tiny_f4"), "mage")  # checkpoint named by the config
    assert f4.mage.seq_len == 16 * 16 and f4.image_size == 64
    with pytest.raises(FileNotFoundError, match="16_Network.pth"):
        load_base_model(get_profile("places"), "palette")
    with pytest.raises(FileNotFoundError, match="mage-vitb-1600.pth"):
        load_base_model(get_profile("imagenet"), "mage")
    with pytest.raises(ValueError, match="unknown family"):
        load_base_model(cfg, "gan")


def test_a_run_off_the_profiles_model_sampling_or_unlearning_keeps_out_of_its_table():
    from l2l_utils.analysis import family_runs
    from l2l_utils.experiment import result_name, variant_name
    from l2l_utils.unlearn import UnlearnConfig
    default, f4 = get_profile("embedded"), get_profile("embedded", mage_config="tiny_f4")
    other = get_profile("embedded", mage_checkpoint="checkpoints/mage_tiny_long_clipart.pt")  # a name, never read
    assert other["mage_checkpoint"] == str(PROJECT_ROOT / "checkpoints" / "mage_tiny_long_clipart.pt")
    same = get_profile("embedded", mage_checkpoint="checkpoints/mage_tiny_clipart.pt")
    assert variant_name("03_unlearn_vqgan", default, "mage") == "03_unlearn_vqgan"
    assert variant_name("03_unlearn_vqgan", same, "mage") == "03_unlearn_vqgan"
    assert variant_name("03_unlearn_vqgan", f4, "mage") == "03_unlearn_vqgan-tiny_f4"
    assert variant_name("03_unlearn_vqgan", other, "mage") == "03_unlearn_vqgan-tiny_long"
    assert variant_name("05_unlearn_mae", other, "mae") == "05_unlearn_mae"  # another family's checkpoint
    # sampled otherwise: its numbers are not the profile's either
    resampled = get_profile("embedded", mage_checkpoint="checkpoints/mage_tiny_long_clipart.pt", mage_temperature=1.0,
                            mage_token_temperature=0.7, mage_num_iter=20)  # 20 iterations: the profile's own
    assert variant_name("03_unlearn_vqgan", resampled, "mage") == "03_unlearn_vqgan-tiny_long-choice1-T0.7"
    assert variant_name("04_unlearn_diffusion", resampled, "palette") == "04_unlearn_diffusion"
    assert variant_name("04_unlearn_diffusion", get_profile("embedded", palette_sample_steps=100),
                        "palette") == "04_unlearn_diffusion-steps100"
    # unlearned otherwise (another alpha, steps or learning rate): not the profile's protocol either
    retuned = get_profile("fashion", alpha=1.0, unlearn_steps=1200, blr=3e-3)  # 3e-3: the profile's own
    assert variant_name("03_unlearn_vqgan", retuned, "mage") == "03_unlearn_vqgan-alpha1-usteps1200"
    assert variant_name("05_unlearn_mae", get_profile("embedded", unlearn_steps=1200),
                        "mae") == "05_unlearn_mae-usteps1200"
    assert variant_name("04_unlearn_diffusion", get_profile("embedded", palette_alpha=0.4, palette_blr=1e-3),
                        "palette") == "04_unlearn_diffusion-alpha0.4-blr0.001"
    names = [result_name(variant_name("03_unlearn_vqgan", c, "mage"), UnlearnConfig(method=m))
             for c in (default, f4, other, resampled, get_profile("embedded", alpha=1.0)) for m in ("ours", "max_loss")]
    results = {name: {"meta": {"method": "ours"}} for name in names}
    assert sorted(family_runs(results, "mage")) == ["03_unlearn_vqgan", "03_unlearn_vqgan__max_loss"]


def test_one_result_file_per_table_row_and_a_clear_error_without_proxy_classes():
    from l2l_utils.experiment import result_name, retain_for
    from l2l_utils.unlearn import UnlearnConfig
    assert result_name("05_unlearn_mae", UnlearnConfig()) == "05_unlearn_mae"
    assert result_name("05_unlearn_mae", UnlearnConfig(), "proxy") == "05_unlearn_mae__ours+proxy"
    assert result_name("03_x", UnlearnConfig(method="max_loss", saliency=0.5)) == "03_x__max_loss+salun0.5"
    assert result_name("05_x", UnlearnConfig(seed=2), "none") == "05_x__ours+noretain+seed2"
    assert result_name("05_x", UnlearnConfig(seed=1)) == "05_x__ours+seed1"  # seeds never overwrite seed 0
    data = {"retain_train": "R", "proxy_train": "P"}
    assert retain_for(data, "real") == "R" and retain_for(data, "proxy") == "P" and retain_for(data, "none") is None
    with pytest.raises(ValueError, match="proxy"):
        retain_for({"retain_train": "R"}, "proxy")
    with pytest.raises(ValueError, match="real"):
        retain_for(data, "nothing")


def test_run_metadata_names_the_base_checkpoint_by_path_and_content(tmp_path):
    from l2l_utils.experiment import run_metadata
    cfg = get_profile("smoke")
    assert "base_checkpoint" not in run_metadata(cfg, 0)
    shipped = run_metadata(cfg, 0, "mage")["base_checkpoint"]
    assert shipped["path"] == "checkpoints/mage_tiny_clipart.pt" and len(shipped["sha256"]) == 64
    outside = tmp_path / "other.pt"
    outside.write_bytes(b"abc")  # SHA-256 of "abc": the FIPS 180-2 test vector
    assert run_metadata({**cfg, "mage_checkpoint": str(outside)}, 0, "mage")["base_checkpoint"] == {
        "path": str(outside.resolve()),
        "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
    assert run_metadata(get_profile("imagenet"), 0, "mage")["base_checkpoint"] is None  # no local checkpoint set
