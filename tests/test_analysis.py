"""10_analysis' building blocks (l2l_utils.analysis) on hand-made result files."""
import math

import numpy as np
import pytest

from l2l_utils import analysis


def result(method="ours", seed=0, fid_f=2.0, fid_r=1.0, original=(1.5, 1.0), **meta):
    metrics = {}
    for model, (f, r) in {"original": original, "unlearned": (fid_f, fid_r)}.items():
        for subset, fid in (("forget", f), ("retain", r)):
            prefix = f"{model}/center_0.5/{subset}"
            metrics.update({f"{prefix}/fid_MNv2": fid, f"{prefix}/is_mean_domain": 1.0,
                            f"{prefix}/cosine_MNv2": 0.5, f"{prefix}/hole_mse": fid / 10})
    return {"meta": {"method": method, "seed": seed, "saliency": None, "retain_set": "real", **meta},
            "metrics": metrics}


def test_rows_are_labelled_by_method_saliency_and_retain_set():
    assert analysis.row_label({"method": "ours", "saliency": 0.5, "retain_set": "proxy"}) == "ours+salun0.5+proxy"
    assert analysis.row_label({"method": "max_loss", "saliency": None, "retain_set": "none"}) == "max_loss+noretain"


def test_the_method_table_averages_seeds_and_counts_the_original_once_per_seed():
    runs = {"05_unlearn_mae": result(fid_f=2.0), "05_unlearn_mae__ours+seed1": result(seed=1, fid_f=4.0, original=(3.5, 1.0)),
            "05_unlearn_mae__max_loss": result("max_loss", fid_f=9.0)}
    table = analysis.method_table(runs, "center_0.5")
    assert list(table.index) == ["original", "max_loss", "ours"]
    assert table.loc["ours", ("FID", "F", "mean")] == 3.0 and table.loc["ours", ("FID", "F", "n")] == 2
    assert table.loc["ours", ("FID", "F", "std")] == pytest.approx(math.sqrt(2))  # sample std of 2 and 4
    assert table.loc["original", ("FID", "F", "n")] == 2 and table.loc["original", ("FID", "F", "mean")] == 2.5
    assert math.isnan(table.loc["max_loss", ("FID", "F", "std")])
    md = analysis.table_markdown(table)
    assert "| ours | 1.000 ± 0.000 | 1.000 ± 0.000 | 0.500 ± 0.000 | 0.100 ± 0.000 | 3.000 ± 1.414 |" in md
    assert "| max_loss | 1.000 | 1.000 | 0.500 | 0.100 | 9.000 |" in md


def test_family_runs_picks_the_family_notebook_and_its_variants_only():
    results = {"05_unlearn_mae": result(), "05_unlearn_mae__max_loss": result("max_loss"),
               "03_unlearn_vqgan": result(), "06_ablation": {"meta": {}, "metrics": {}}}
    assert sorted(analysis.family_runs(results, "mae")) == ["05_unlearn_mae", "05_unlearn_mae__max_loss"]


def test_sweep_frame_gives_the_claims_two_axes():
    r = result(fid_f=3.0, fid_r=1.1, original=(1.5, 1.0))
    r["metrics"] = {k.replace("unlearned/", "alpha=1/"): v for k, v in r["metrics"].items()}
    r["meta"]["runs"] = {"alpha=1": {"alpha": 1.0}}
    frame = analysis.sweep_frame(r, "center_0.5")
    assert frame.loc["alpha=1", "forget_fid_ratio"] == pytest.approx(2.0)
    assert frame.loc["alpha=1", "retain_fid_growth"] == pytest.approx(0.1)
    assert frame.loc["alpha=1", "forget_hole_mse_ratio"] == pytest.approx(2.0)


def test_tsne_keeps_every_group():
    rng = np.random.default_rng(0)
    samples = {f"{s}/{k}/pca": rng.normal(size=(30, 5)).astype(np.float16)
               for s in ("forget", "retain") for k in ("real", "original", "unlearned")}
    frame = analysis.tsne_frame(samples, perplexity=5)
    assert len(frame) == 180 and set(frame["images"]) == {"real", "original", "unlearned"}
