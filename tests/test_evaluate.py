import pytest
import torch

from l2l_utils.data import synthetic_dataset
from l2l_utils.evaluate import claim_check, evaluate, generate, hole_mse, metric_name
from l2l_utils.metrics import get_backbone
from l2l_utils.plots import metrics_table


def test_batched_generation_equals_one_batch(micro_mae):
    x = torch.rand(10, 3, 32, 32)
    whole, masks = generate(micro_mae, x, "center_0.5", batch_size=10)
    chunks, _ = generate(micro_mae, x, "center_0.5", batch_size=3)
    torch.testing.assert_close(whole, chunks, rtol=1e-5, atol=1e-6)  # only summation order differs
    assert masks.shape == (10, 1, 32, 32) and masks[:, :, 16, 16].eq(1).all()


def test_hole_mse_only_counts_the_hole():
    gt = torch.zeros(2, 3, 4, 4)
    gen = torch.ones(2, 3, 4, 4)
    masks = torch.zeros(2, 1, 4, 4)
    masks[:, :, :2] = 1
    assert hole_mse(gen, gt, masks) == 1.0
    gen[:, :, 2:] = 5.0  # errors outside the hole do not count
    assert hole_mse(gen, gt, masks) == 1.0


def test_metric_names_carry_the_substitution():
    assert metric_name("fid", "MNv2") == "fid_MNv2"
    assert metric_name("kid_std", "MNv2") == "kid_std_MNv2"
    assert metric_name("is_mean", "MNv2") == "is_mean_domain"
    assert metric_name("n", "MNv2") == "n"


def test_claim_check_arithmetic():
    m = {f"{model}/t/{s}/{k}_B": v for model, s, k, v in [
        ("original", "forget", "fid", 10.0), ("unlearned", "forget", "fid", 30.0),
        ("original", "retain", "fid", 20.0), ("unlearned", "retain", "fid", 22.0),
        ("original", "retain", "cosine", 0.9), ("unlearned", "retain", "cosine", 0.88),
        ("original", "forget", "cosine", 0.8), ("unlearned", "forget", "cosine", 0.5)]}
    m.update({"original/t/forget/hole_mse": 0.1, "unlearned/t/forget/hole_mse": 0.3,
              "original/t/retain/hole_mse": 0.1, "unlearned/t/retain/hole_mse": 0.1})
    c = claim_check(m, "t", backbone="B")
    assert c["forget_fid_ratio"] == 3.0
    assert c["retain_fid_growth"] == pytest.approx(0.1)
    assert c["retain_cosine_drop"] == pytest.approx(0.02) and c["forget_cosine_drop"] == pytest.approx(0.3)
    assert c["forget_hole_mse_ratio"] == pytest.approx(3.0) and c["retain_hole_mse_ratio"] == 1.0


def test_evaluate_scores_each_set_and_caches_reference_features(micro_mae, monkeypatch):
    import l2l_utils.evaluate as evaluate_module
    data = synthetic_dataset(n_per_class=6, num_classes=2, size=32)
    sets = {"retain": data.subset(data.labels == 0), "forget": data.subset(data.labels == 1)}
    backbone = get_backbone("mobilenetv2", input_size=64)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 4))
    extracted = []
    real_extract = evaluate_module.extract_features
    monkeypatch.setattr(evaluate_module, "extract_features",
                        lambda bb, images, bs: extracted.append(images) or real_extract(bb, images, bs))
    cache = {}
    metrics, images = evaluate(micro_mae, sets, ["center_0.5"], backbone, classifier, feature_cache=cache)
    assert len(cache) == 2 and set(images) == {("center_0.5", "retain"), ("center_0.5", "forget")}
    assert metrics["center_0.5/forget/n"] == 6
    table = metrics_table({f"m/{k}": v for k, v in metrics.items()}, ["m"])
    assert ("forget", "fid_MNv2") in table.columns and table.shape[0] == 1

    assert len(extracted) == 2  # each set's ground truth once
    again, _ = evaluate(micro_mae, sets, ["center_0.5"], backbone, classifier, feature_cache=cache)
    assert len(extracted) == 2 and again == metrics  # served from the cache, same numbers
    fresh, _ = evaluate(micro_mae, sets, ["center_0.5"], backbone, classifier)
    assert len(extracted) == 4 and fresh == metrics
    # another set under the same name and size is not served the old set's features
    swapped = {"retain": sets["forget"], "forget": sets["retain"]}
    evaluate(micro_mae, swapped, ["center_0.5"], backbone, classifier, feature_cache=cache)
    assert len(extracted) == 6 and extracted[-1] is sets["retain"].images


def test_markdown_table():
    from l2l_utils.plots import to_markdown
    m = {"a/t/forget/fid_B": 1.23456, "a/t/retain/fid_B": 2.0, "claim/t/x": 9.0}
    text = to_markdown(metrics_table(m, ["a"]))
    assert text.splitlines()[0] == "model | task | forget/fid_B | retain/fid_B"
    assert text.splitlines()[2] == "a | t | 1.235 | 2.000"


def test_paper_rows_have_the_released_columns_and_keep_retain_and_forget_apart(tmp_path, monkeypatch):
    from l2l_utils import experiment
    from l2l_utils.evaluate import paper_rows
    metrics = {}
    for m, model in enumerate(["original", "unlearned"]):
        for s, subset in enumerate(["retain", "forget"]):
            for k, metric in enumerate(["fid_MNv2", "is_mean_domain", "is_std_domain", "cosine_MNv2"]):
                metrics[f"{model}/center_0.5/{subset}/{metric}"] = 100 * m + 10 * s + k
    fid_is, clip = paper_rows(metrics, ["original", "unlearned"], ["center_0.5"], "MNv2")
    assert list(fid_is.columns) == ["CKPT+config", "FID_R", "IS_R mean", "IS_R std", "FID_F", "IS_F mean", "IS_F std"]
    assert fid_is.iloc[1].tolist() == ["unlearned+center_0.5_", 100, 101, 102, 110, 111, 112]
    assert clip.iloc[0].tolist() == ["original+center_0.5_", 3, 13]
    monkeypatch.setattr(experiment, "RESULTS_DIR", tmp_path)
    paths = experiment.write_paper_csvs({"profile": "p"}, "nb", metrics, ["original"], ["center_0.5"], "MNv2")
    assert [p.name for p in paths] == ["nb_fid_is_MNv2.csv", "nb_clip_MNv2.csv"]
    assert paths[1].read_text().splitlines() == ["CKPT+config\tCLIP_R\tCLIP_F", "original+center_0.5_\t3\t13"]


def test_recognisability_scores_each_fill_by_the_judge_and_the_baselines_keep_the_visible_pixels():
    # Class c: the image's centre is bright in channel c, its border white. The judge reads the centre
    # pixel (ties go to class 0), so it recognises every ground truth, only the class-0 images once the
    # centre is grey or the (white) blur, every image whose hole comes from its own class and none whose
    # hole comes from another class.
    from l2l_utils.data import ImageDataset
    from l2l_utils.evaluate import baseline_fills, pasted_class_fills, recognisability
    from l2l_utils.masks import center_hole
    labels = torch.tensor([0, 1, 1, 2, 2, 0, 1])
    images = torch.ones(7, 3, 8, 8)
    images[:, :, 2:6, 2:6] = 0.0
    for i, c in enumerate(labels):
        images[i, c, 2:6, 2:6] = 1.0
    masks = center_hole(8, 0.5).expand(7, -1, -1, -1)
    data = ImageDataset(images, labels, ["r", "g", "b"], "toy")

    def judge(x):
        return x[:, :, 4, 4] + torch.tensor([1e-3, 0.0, 0.0])
    for fill in [*baseline_fills(images, masks).values(), *pasted_class_fills(data, masks).values()]:
        torch.testing.assert_close(fill * (1 - masks), images * (1 - masks), rtol=0, atol=0)
    scores = recognisability(judge, data, images.flip(0), masks)
    assert scores["ground_truth"] == 1.0
    assert scores["grey"] == scores["mean_fill"] == 2 / 7
    assert scores["same_class"] == 1.0 and scores["other_class"] == 0.0
    assert scores["generated"] == 1 / 7  # the flipped order's classes [1, 0, 2, 2, 1, 1, 0] match once
    # The partner's class, not its place in the split, decides: reordering the data keeps the scores.
    order = torch.randperm(7, generator=torch.Generator().manual_seed(1))
    shuffled = recognisability(judge, data.subset(order), images.flip(0)[order], masks)
    assert shuffled == scores


def test_pasted_class_fills_need_a_partner_of_each_kind_for_every_image():
    from l2l_utils.data import ImageDataset
    from l2l_utils.evaluate import pasted_class_fills
    from l2l_utils.masks import center_hole
    masks = center_hole(8, 0.5).expand(3, -1, -1, -1)
    for labels in ([0, 0, 1], [2, 2, 2]):  # class 1 has one image; no image has another class
        with pytest.raises(ValueError, match="partner for every image"):
            pasted_class_fills(ImageDataset(torch.rand(3, 3, 8, 8), torch.tensor(labels), ["a", "b", "c"], "toy"), masks)
