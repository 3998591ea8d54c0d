"""Sweeps over one family (l2l_utils.study): retain pools of the availability study, the no-retain
objective, and the on-disk cache of the original model's evaluation."""
import copy

import pytest
import torch

import l2l_utils.study as study
from l2l_utils.data import synthetic_dataset
from l2l_utils.masks import center_hole
from l2l_utils.profiles import get_profile
from l2l_utils.unlearn import UnlearnConfig, build_objective, unlearn


def pools():
    d = synthetic_dataset(n_per_class=10, num_classes=6, size=16)
    return {"forget_train": d.subset(d.labels < 2), "retain_train": d.subset((d.labels >= 2) & (d.labels < 4)),
            "proxy_train": d.subset(d.labels >= 4)}


def test_retain_pool_keeps_a_fraction_of_every_real_class_and_a_ratio_of_proxy_images():
    data = pools()
    quarter = study.retain_pool(data, real_fraction=0.25)
    assert len(quarter) == 2 * 3 and sorted(quarter.labels.tolist()) == [2, 2, 2, 3, 3, 3]  # ceil(0.25 * 10)
    proxy = study.retain_pool(data, real_fraction=0.0, proxy_ratio=0.5)  # 0.5 * 20 forget images over 2 classes
    assert len(proxy) == 10 and set(proxy.labels.tolist()) == {4, 5}
    both = study.retain_pool(data, real_fraction=1.0, proxy_ratio=0.5)
    assert len(both) == 20 + 10
    assert study.retain_pool(data, 0.0, 0.0) is None
    unbalanced = {**data, "retain_train": data["retain_train"].subset(torch.arange(13))}  # 10 + 3 images
    assert len(study.retain_pool(unbalanced, 1.0)) == 13  # the whole set, whatever the class sizes
    assert len(study.retain_pool(unbalanced, 0.5)) == 5 + 2  # ceil(0.5 n_c) per class
    assert torch.equal(study.retain_pool(data, 0.5, seed=3).images, study.retain_pool(data, 0.5, seed=3).images)
    assert not torch.equal(study.retain_pool(data, 0.5, seed=3).images, study.retain_pool(data, 0.5, seed=4).images)
    with pytest.raises(ValueError, match="real_fraction"):
        study.retain_pool(data, real_fraction=1.5)
    with pytest.raises(ValueError, match="proxy data"):
        study.retain_pool({k: v for k, v in data.items() if k != "proxy_train"}, 0.0, 1.0)


def test_without_a_retain_set_the_loss_is_the_forget_term_alone(micro_mae):
    d = synthetic_dataset(n_per_class=4, num_classes=2, size=32)
    obj = build_objective("ours", micro_mae, copy.deepcopy(micro_mae), alpha=0.5, retain_weight=0.0)
    with torch.no_grad():  # off the original weights, so that the retain term is not zero
        for p in micro_mae.parameters():
            p.add_(0.05 * torch.randn_like(p))
    loss, parts = obj(d.images[:2], d.images[4:6], center_hole(32, 0.5), torch.Generator().manual_seed(0))
    assert parts["retain"] > 0 and torch.allclose(loss, 0.5 * parts["forget"])


def test_unlearning_without_a_retain_set_optimises_the_forget_term_alone(micro_mae):
    d = synthetic_dataset(n_per_class=6, num_classes=2, size=32)
    forget = d.subset(d.labels == 0)
    cfg = UnlearnConfig(steps=3, batch_size=4, blr=1e-2, tasks=("center_0.5",))
    _, history = unlearn(copy.deepcopy(micro_mae), forget, None, cfg, progress=False)
    assert all(abs(h["loss"] - cfg.alpha * h["forget"]) < 1e-6 for h in history)


class Counting:
    def __init__(self, real):
        self.real, self.calls = real, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


def test_the_original_evaluation_is_cached_exactly_and_keyed_by_the_weights(micro_mae, tmp_path, monkeypatch):
    from l2l_utils.metrics import get_backbone
    from l2l_utils.metrics.classifier import DomainClassifier
    d = synthetic_dataset(n_per_class=6, num_classes=2, size=32)
    sets = {"retain": d.subset(d.labels == 1), "forget": d.subset(d.labels == 0)}
    torch.manual_seed(0)
    backbone, classifier = get_backbone("mobilenetv2", None, 32, "cpu"), DomainClassifier(num_classes=2).eval()
    counter = Counting(study.evaluate)
    monkeypatch.setattr(study, "evaluate", counter)

    def run(model):
        return study.cached_evaluate(model, sets, ["center_0.5"], backbone, classifier, 16, 0, "cpu", {}, tmp_path)
    first, images = run(micro_mae)
    again, images_again = run(micro_mae)
    assert counter.calls == 1 and again == first
    assert torch.equal(images[("center_0.5", "forget")], images_again[("center_0.5", "forget")])
    moved = copy.deepcopy(micro_mae)
    with torch.no_grad():
        next(moved.parameters()).add_(1e-3)
    run(moved)
    assert counter.calls == 2  # other weights, another entry
    micro_mae.num_iter = 3  # a sampler setting (MAGE's) changes the outputs, so it is part of the key
    run(micro_mae)
    assert counter.calls == 3
    micro_mae.token_margin = 0  # so is MAGE's token margin (how many tokens are regenerated)
    run(micro_mae)
    assert counter.calls == 4
    sets["forget"].images[0, 0, 0, 0] += 0.5  # one pixel of one test image
    run(micro_mae)
    assert counter.calls == 5


def test_family_settings_follow_the_profile():
    cfg = get_profile("smoke")
    mae, mae_tasks = study.family_settings(cfg, "mae")
    palette, palette_tasks = study.family_settings(cfg, "palette")
    assert mae["alpha"] == cfg["alpha"] and mae_tasks == cfg["eval_tasks"]
    assert palette["alpha"] == cfg["palette_alpha"] and palette["tasks"] == tuple(cfg["palette_unlearn_tasks"])
    assert palette_tasks == cfg["palette_eval_tasks"]
    with pytest.raises(ValueError, match="unknown family"):
        study.family_settings(cfg, "gan")


def test_run_checkpoints_are_named_so_notebooks_and_sweeps_share_them(micro_mae, tmp_path):
    """A sweep point with the notebook's settings must land on the notebook's checkpoint, and any
    setting that changes the run must change the name."""
    st = study.Study.__new__(study.Study)  # naming needs only the family, the defaults and the folder
    st.family, st.seed, st.runs_dir = "mae", 0, tmp_path
    st.defaults = study.family_settings(get_profile("smoke"), "mae")[0]
    default = st.checkpoint(st.unlearn_config())
    assert default.name == "05_unlearn_mae_alpha0.2_seed0.pt"
    names = {default.name,
             st.checkpoint(st.unlearn_config(alpha=1.0)).name,
             st.checkpoint(st.unlearn_config(steps=4 * st.defaults["steps"])).name,
             st.checkpoint(st.unlearn_config(noise_type="uniform")).name,
             st.checkpoint(st.unlearn_config(method="max_loss")).name,
             st.checkpoint(st.unlearn_config(saliency=0.5)).name,
             st.checkpoint(st.unlearn_config(seed=1)).name,
             st.checkpoint(st.unlearn_config(), retain_set="proxy").name,
             st.checkpoint(st.unlearn_config(), pool="_real0.25-proxy0").name}
    assert len(names) == 9


def test_distance_to_a_reference_models_fills_is_zero_only_for_the_same_fills():
    from l2l_utils.metrics import get_backbone
    torch.manual_seed(0)
    backbone = get_backbone("mobilenetv2", None, 32, "cpu")
    d = synthetic_dataset(n_per_class=12, num_classes=2, size=32)
    sets = {"retain": d.subset(d.labels == 1), "forget": d.subset(d.labels == 0)}
    ref = {("t", s): data.images for s, data in sets.items()}
    g = torch.Generator().manual_seed(0)
    noisy = {k: (v + 0.3 * torch.randn(v.shape, generator=g)).clamp(0, 1) for k, v in ref.items()}
    swapped = {("t", "retain"): ref[("t", "forget")], ("t", "forget"): ref[("t", "retain")]}
    table = study.output_fid(ref, {"same": ref, "noisy": noisy, "swapped": swapped}, "t", sets, backbone)
    assert list(table.columns) == ["retain", "forget"] and list(table.index) == ["same", "noisy", "swapped"]
    # 12 images in 1,280 feature dimensions: FID is mostly bias, so only "zero vs clearly not" is tested
    for subset in sets:
        assert abs(table.loc["same", subset]) < 1e-3
        assert table.loc["noisy", subset] > 1 and table.loc["swapped", subset] > 1
