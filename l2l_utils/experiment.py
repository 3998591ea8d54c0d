"""The pieces every unlearning notebook assembles, driven by a profile dict (``l2l_utils.profiles``).

Notebooks call these few functions and keep their cells short: data by class split, the base model,
the metric models, and result/figure writing under ``results/<profile>/`` and ``figures/<profile>/``.
"""
from __future__ import annotations

import platform
from pathlib import Path

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import ClassSplit, ImageDataset, load_clipart
from l2l_utils.io import write_json

RESULTS_DIR = PROJECT_ROOT / "results"
FIGURES_DIR = PROJECT_ROOT / "figures"


def class_split(cfg: dict, seed: int) -> ClassSplit:
    return ClassSplit(tuple(cfg["forget"]), tuple(cfg["retain"]), tuple(cfg["proxy"]),
                      cfg["images_per_class"], seed)


def load_experiment_data(cfg: dict, seed: int = 0) -> dict[str, ImageDataset]:
    """Train and test images of the forget, retain and proxy classes of the profile."""
    split = class_split(cfg, seed)
    groups = ["forget", "retain"] + (["proxy"] if cfg["proxy"] else [])
    if cfg["dataset"] == "clipart":
        train, test = load_clipart("train"), load_clipart("test")
        out = {f"{g}_train": split.select(train, g) for g in groups}
        test_split = ClassSplit(split.forget, split.retain, split.proxy, cfg["test_images_per_class"], seed)
        out.update({f"{g}_test": test_split.select(test, g) for g in ("forget", "retain")})
        return out
    if cfg["dataset"] == "imagenet":
        from l2l_utils.imagenet import load_imagenet
        out = {}
        for g in groups:
            out[f"{g}_train"] = load_imagenet(cfg["data_root"], "train", cfg[g], cfg["images_per_class"], seed=seed)
        for g in ("forget", "retain"):
            out[f"{g}_test"] = load_imagenet(cfg["data_root"], "val", cfg[g], cfg["test_images_per_class"], seed=seed)
        return out
    raise ValueError(f"unknown dataset {cfg['dataset']!r}")


def load_base_model(cfg: dict, retrain: bool = False, seed: int = 0):
    """The shipped/public base MAE, or (``retrain=True``, embedded data only) one pre-trained anew
    with ``cfg["pretrain_steps"]`` steps and cached under ``runs/<profile>/``."""
    from l2l_utils.models.mae import load_mae_checkpoint
    if retrain:
        return _retrained_mae(cfg, seed).to(cfg["device"])
    if cfg["mae_checkpoint"] is None:
        raise FileNotFoundError("set mae_checkpoint to a local mae_visualize_vit_large.pth (facebookresearch/mae)")
    return load_mae_checkpoint(cfg["mae_checkpoint"], cfg["mae_config"]).to(cfg["device"])


def _retrained_mae(cfg: dict, seed: int):
    from l2l_utils.io import atomic_torch_save
    from l2l_utils.models.mae import load_mae_checkpoint
    from l2l_utils.pretrain import pretrain_mae
    if cfg["dataset"] != "clipart":
        raise ValueError("retraining the base model is for the embedded data; at full scale use the public checkpoint")
    path = PROJECT_ROOT / "runs" / cfg["profile"] / f"mae_{cfg['mae_config']}_pretrain{cfg['pretrain_steps']}_seed{seed}.pt"
    if not path.is_file():
        model, meta = pretrain_mae(load_clipart("train"), cfg["mae_config"], steps=cfg["pretrain_steps"], seed=seed)
        atomic_torch_save({"model": model.mae.state_dict(), "config": cfg["mae_config"], "meta": meta}, path)
    return load_mae_checkpoint(path, cfg["mae_config"])


def load_metric_models(cfg: dict):
    """(feature backbone, IS classifier). Offline the backbone is the MobileNetV2 substitute."""
    from l2l_utils.metrics import get_backbone, get_is_classifier
    backbone = get_backbone(cfg["backbone"], cfg["backbone_weights"], cfg["feature_size"], cfg["device"])
    return backbone, get_is_classifier(cfg["is_classifier"], cfg["is_classifier_weights"]).to(cfg["device"])


def run_metadata(cfg: dict, seed: int) -> dict:
    """What made a result: recorded beside every number."""
    return {"profile": cfg["profile"], "seed": seed, "dataset": cfg["dataset"], "device": str(cfg["device"]),
            "backbone": cfg["backbone"], "feature_size": cfg["feature_size"],
            "torch": torch.__version__, "python": platform.python_version(),
            "forget_classes": list(cfg["forget"]), "retain_classes": list(cfg["retain"])}


def write_results(cfg: dict, notebook: str, metrics: dict, meta: dict) -> Path:
    path = RESULTS_DIR / cfg["profile"] / f"{notebook}.json"
    write_json({"meta": meta, "metrics": metrics}, path)
    return path


def save_figure(fig, name: str, profile: str) -> Path:
    """figures/<profile>/<name>.png and .pdf (no timestamps, so reruns give the same files)."""
    out = FIGURES_DIR / profile
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", dpi=130, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(out / f"{name}.pdf", bbox_inches="tight", metadata={"CreationDate": None, "Creator": None})
    return out / f"{name}.png"
