"""The pieces every unlearning notebook assembles, driven by a profile dict (``l2l_utils.profiles``).

Notebooks call these few functions and keep their cells short: data by class split, the base model,
the metric models, and result/figure writing under ``results/<profile>/`` and ``figures/<profile>/``.
"""
from __future__ import annotations

import platform
from pathlib import Path

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import ClassSplit, ImageDataset, load_clipart, load_fashion_mnist64, select_classes
from l2l_utils.io import file_sha256, write_json
from l2l_utils.profiles import get_profile

# The shipped datasets: (split, model image size) -> ImageDataset
EMBEDDED_DATASETS = {"clipart": load_clipart, "fashion_mnist64": load_fashion_mnist64}
RESULTS_DIR = PROJECT_ROOT / "results"
FIGURES_DIR = PROJECT_ROOT / "figures"


def class_split(cfg: dict, seed: int) -> ClassSplit:
    return ClassSplit(tuple(cfg["forget"]), tuple(cfg["retain"]), tuple(cfg["proxy"]),
                      cfg["images_per_class"], seed)


def load_experiment_data(cfg: dict, seed: int = 0, image_size: int | None = None,
                         proxy: bool = True) -> dict[str, ImageDataset]:
    """Train and test images of the forget, retain and (with ``proxy``) proxy classes of the profile.

    ``image_size`` is the model's; the 64 px clip-art is area-downsampled to it when smaller. A proxy
    list ``"rest"`` means every class of the dataset that is neither forget nor retain (the released
    code's pools: the 800 non-ImageNet-R classes, the 266 other Places classes); ``"coco"`` means
    ``coco_images`` images of ``<coco_root>/train2017`` (its ``--use_coco``)."""
    groups = ["forget", "retain"] + (["proxy"] if proxy and cfg["proxy"] else [])
    if cfg["dataset"] in EMBEDDED_DATASETS:
        split, load = class_split(cfg, seed), EMBEDDED_DATASETS[cfg["dataset"]]
        train, test = load("train", image_size), load("test", image_size)
        out = {f"{g}_train": split.select(train, g) for g in groups}
        test_split = ClassSplit(split.forget, split.retain, split.proxy, cfg["test_images_per_class"], seed)
        out.update({f"{g}_test": test_split.select(test, g) for g in ("forget", "retain")})
        return out
    size = image_size or FOLDER_IMAGE_SIZE.get(cfg["dataset"])  # unknown: _folder_loader says so
    load = _folder_loader(cfg, seed, size)
    out = {f"{g}_train": load("train", cfg[g], cfg["images_per_class"]) for g in ("forget", "retain")}
    if "proxy" in groups and cfg["proxy"] == "coco":  # one pool of COCO train2017 images
        from l2l_utils.image_files import load_coco
        out["proxy_train"] = load_coco(cfg["coco_root"], cfg["coco_images"], size, seed)
    elif "proxy" in groups:  # after the others: a missing tree is reported by their loader first
        out["proxy_train"] = load("train", _proxy_classes(cfg), cfg["images_per_class"])
    out.update({f"{g}_test": load("val", cfg[g], cfg["test_images_per_class"]) for g in ("forget", "retain")})
    return out


def _proxy_classes(cfg: dict) -> list[str]:
    if cfg["proxy"] != "rest":
        return list(cfg["proxy"])
    taken = set(cfg["forget"]) | set(cfg["retain"])
    if cfg["dataset"] == "places":
        from l2l_utils.places import other_classes
        return other_classes(cfg["data_root"], taken)
    train = Path(cfg["data_root"]) / "train"
    return sorted(d.name for d in train.iterdir() if d.is_dir() and d.name not in taken)


FOLDER_IMAGE_SIZE = {"imagenet": 224, "places": 256}  # without a model's size: MAE's / Palette's


def _folder_loader(cfg: dict, seed: int, size: int):
    """(split, classes, images per class) -> ImageDataset for the full-scale folder layouts."""
    if cfg["dataset"] == "imagenet":
        from l2l_utils.imagenet import load_imagenet
        return lambda split, classes, n: load_imagenet(cfg["data_root"], split, classes, n, size, seed)
    if cfg["dataset"] == "places":
        from l2l_utils.places import load_places
        return lambda split, classes, n: load_places(cfg["data_root"], split, classes, n, size)
    raise ValueError(f"unknown dataset {cfg['dataset']!r}")


PUBLIC_CHECKPOINTS = {"mae": "mae_visualize_vit_large.pth (facebookresearch/mae)",
                      "mage": "mage-vitb-1600.pth (LTH14/mage; it contains the VQGAN tokenizer)",
                      "palette": "16_Network.pth (Places2 inpainting, linked from the i2i_Palette README)"}


def load_base_model(cfg: dict, family: str = "mae", retrain: bool = False, seed: int = 0, without=()):
    """The shipped/public base model of ``family`` (mae | mage | palette), or (``retrain=True``, embedded
    data only) one pre-trained anew, with the recipe of the family's ``scripts/pretrain_*.py`` and the
    profile's step counts, on the training images of every class but ``without`` (the retrain oracle
    leaves out the forget classes); retrained models are cached under ``runs/<profile>/``."""
    if family not in PUBLIC_CHECKPOINTS:
        raise ValueError(f"unknown family {family!r}; known: {sorted(PUBLIC_CHECKPOINTS)}")
    path = _retrained(cfg, family, seed, tuple(without)) if retrain else cfg[f"{family}_checkpoint"]
    if path is None:
        raise FileNotFoundError(f"profile {cfg['profile']!r} has no {family} checkpoint: set {family}_checkpoint "
                                f"(full scale: a local {PUBLIC_CHECKPOINTS[family]})")
    if family == "mage":
        from l2l_utils.models.mage import load_mage_checkpoint
        model = load_mage_checkpoint(path, cfg["mage_config"])
        model.num_iter, model.choice_temperature = cfg["mage_num_iter"], cfg["mage_temperature"]
        model.token_temperature = cfg["mage_token_temperature"]
        return model.to(cfg["device"])
    if family == "palette":
        from l2l_utils.models.palette import load_palette_checkpoint
        model = load_palette_checkpoint(path, cfg["palette_config"])
        model.sample_steps = cfg["palette_sample_steps"]
        return model.to(cfg["device"])
    from l2l_utils.models.mae import load_mae_checkpoint
    return load_mae_checkpoint(path, cfg["mae_config"]).to(cfg["device"])


def pretrain_steps(cfg: dict, family: str) -> list[int]:
    """The profile's pre-training step counts of ``family``, in training order (see ``_retrained``)."""
    return {"mae": [cfg["pretrain_steps"]], "mage": list(cfg["mage_pretrain_steps"]),
            "palette": [steps for steps, _ in cfg["palette_pretrain_stages"]]}[family]


def _retrained(cfg: dict, family: str, seed: int, without: tuple[str, ...]) -> Path:
    """Path of the base model of ``family`` pre-trained on the embedded training images minus ``without``,
    at most ``oracle_images_per_class`` of each class (None = all; a seeded draw), trained on the first
    call. Step counts: ``pretrain_steps`` (MAE); ``mage_pretrain_steps`` (tokenizer, then each
    transformer stage resuming the last; the tokenizer is retrained too, so no part has seen ``without``;
    the transformer learns from the context the profile's checkpoint learnt from);
    ``palette_pretrain_stages`` ((steps, lr) per stage, each resuming the last)."""
    if cfg["dataset"] != "clipart":
        raise ValueError("retraining the base model is for the embedded clip-art; at full scale use the public "
                         "checkpoint")
    steps = pretrain_steps(cfg, family)
    cap = cfg["oracle_images_per_class"]
    tag = ("_without-" + "-".join(sorted(without)) if without else "") + (f"_{cap}perclass" if cap is not None else "")
    filled_context = False  # MAGE: the context recipe of the model the oracle stands beside (pretrain_mage)
    if family == "mage":
        filled_context = bool(torch.load(cfg["mage_checkpoint"], map_location="cpu", weights_only=True)
                              ["meta"]["mage"].get("filled_context"))
        tag += "-filledctx" if filled_context else ""
    config = cfg[f"{family}_config"]
    path = (PROJECT_ROOT / "runs" / cfg["profile"]
            / f"{family}_{config}_pretrain{'+'.join(map(str, steps))}{tag}_seed{seed}.pt")
    if path.is_file():
        return path
    from l2l_utils.io import atomic_torch_save
    size = None
    if family == "palette":
        from l2l_utils.models.palette import build_network
        size = build_network(config).denoise_fn.image_size
    train = load_clipart("train", size)
    left_out = set(train.class_index(list(without)))  # an unknown name raises: no silent full retrain
    train = select_classes(train, [c for i, c in enumerate(train.class_names) if i not in left_out], cap, seed, "oracle")
    if family == "mae":
        from l2l_utils.pretrain import pretrain_mae
        model, meta = pretrain_mae(train, config, steps=steps[0], seed=seed)
        atomic_torch_save({"model": model.mae.state_dict(), "config": config, "meta": meta}, path)
    elif family == "mage":
        from l2l_utils.models.mage import CONFIGS
        from l2l_utils.pretrain_mage import pretrain_mage, pretrain_vqgan
        vq, vq_meta = pretrain_vqgan(train, CONFIGS[config]["vqgan"], steps=steps[0], seed=seed)
        model, stages = None, []
        for stage_steps in steps[1:]:
            model, meta = pretrain_mage(train, vq, config, steps=stage_steps, seed=seed, init=model,
                                        filled_context=filled_context)
            stages.append(meta)
        atomic_torch_save({"model": model.mage.state_dict(), "config": config,
                           "meta": {"vqgan": vq_meta, "mage": stages}}, path)
    else:
        from l2l_utils.pretrain_palette import pretrain_palette
        model = None
        for stage_steps, lr in cfg["palette_pretrain_stages"]:
            model, _ = pretrain_palette(train, config, steps=stage_steps, lr=lr, seed=seed, init=model)
        atomic_torch_save(model.network.state_dict(), path)  # the public flat layout
    return path


def retain_for(data: dict, retain_set: str) -> ImageDataset | None:
    """The retain term's data: the real retain set, a proxy (other classes; Li et al. 2024, Sec. 5), or
    none (None: ``unlearn`` drops the retain term)."""
    if retain_set == "real":
        return data["retain_train"]
    if retain_set == "proxy":
        if "proxy_train" not in data:
            raise ValueError("retain_set='proxy' needs proxy classes: set the profile's 'proxy' class list")
        return data["proxy_train"]
    if retain_set == "none":
        return None
    raise ValueError(f"retain_set must be 'real', 'proxy' or 'none', got {retain_set!r}")


def result_name(notebook: str, ucfg, retain_set: str = "real") -> str:
    """``notebook`` for the paper's method on the real retain set with seed 0, else
    ``notebook__<method>[+salun<r>][+proxy|+noretain][+seed<s>]``: one result file per table row and seed."""
    tag = ucfg.method + (f"+salun{ucfg.saliency}" if ucfg.saliency is not None else "")
    tag += {"real": "", "proxy": "+proxy", "none": "+noretain"}[retain_set]
    tag += f"+seed{ucfg.seed}" if ucfg.seed != 0 else ""
    return notebook if tag == "ours" else f"{notebook}__{tag}"


# Settings a family notebook may override off its profile, and the tag each adds to its result files'
# names: the sampling, then the unlearning.
_UNLEARN_TAGS = {"alpha": "alpha", "unlearn_steps": "usteps", "blr": "blr"}
OVERRIDE_TAGS = {"mae": _UNLEARN_TAGS,
                 "mage": {"mage_num_iter": "iter", "mage_temperature": "choice", "mage_token_temperature": "T",
                          **_UNLEARN_TAGS},
                 "palette": {"palette_sample_steps": "steps",
                             **{f"palette_{key}": tag for key, tag in _UNLEARN_TAGS.items()}}}


def variant_name(notebook: str, cfg: dict, family: str) -> str:
    """``notebook``, or ``notebook-<base model>[-<setting>...]`` when the run swaps the profile's base model
    for another, samples it otherwise or unlearns otherwise: another config (``-tiny_f4``) or, on the
    embedded data, another checkpoint of the same config (``mage_tiny_long_clipart.pt`` -> ``-tiny_long``);
    then each setting off the profile's (``-choice1``, ``-T0.7``, ``-steps100``, ``-alpha1``,
    ``-usteps1200``). Its result files and checkpoints then stay apart from the profile's table
    (``analysis.family_runs``) and runs."""
    config, default = f"{family}_config", get_profile(cfg["profile"])
    parts = [notebook]
    if cfg[config] != default[config]:
        parts.append(cfg[config])
    elif cfg["dataset"] in EMBEDDED_DATASETS:
        checkpoint = Path(cfg[f"{family}_checkpoint"])
        if checkpoint.resolve() != Path(default[f"{family}_checkpoint"]).resolve():
            parts.append(checkpoint.stem.removeprefix(f"{family}_").removesuffix(f"_{cfg['dataset']}"))
    parts += [f"{tag}{cfg[key]:g}" for key, tag in OVERRIDE_TAGS[family].items() if cfg[key] != default[key]]
    return "-".join(parts)


def load_metric_models(cfg: dict):
    """(feature backbone, IS classifier). Offline the backbone is the MobileNetV2 substitute."""
    from l2l_utils.metrics import get_backbone, get_is_classifier
    backbone = get_backbone(cfg["backbone"], cfg["backbone_weights"], cfg["feature_size"], cfg["device"])
    return backbone, get_is_classifier(cfg["is_classifier"], cfg["is_classifier_weights"]).to(cfg["device"])


def run_metadata(cfg: dict, seed: int, family: str | None = None) -> dict:
    """What made a result: recorded beside every number; with ``family``, also which base checkpoint
    (path and sha256: one file name has held more than one shipped model)."""
    meta = {"profile": cfg["profile"], "seed": seed, "dataset": cfg["dataset"], "device": str(cfg["device"]),
            "backbone": cfg["backbone"], "feature_size": cfg["feature_size"],
            "torch": torch.__version__, "python": platform.python_version(),
            "forget_classes": list(cfg["forget"]), "retain_classes": list(cfg["retain"])}
    if family is not None:
        meta["base_checkpoint"] = checkpoint_provenance(cfg[f"{family}_checkpoint"])
    return meta


def checkpoint_provenance(path) -> dict | None:
    """``{"path", "sha256"}`` of a checkpoint file (the path relative to the project when inside it)."""
    if path is None:
        return None
    path = Path(path).resolve()
    shown = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
    return {"path": str(shown), "sha256": file_sha256(path)}


def write_results(cfg: dict, notebook: str, metrics: dict, meta: dict) -> Path:
    path = RESULTS_DIR / cfg["profile"] / f"{notebook}.json"
    write_json({"meta": meta, "metrics": metrics}, path)
    return path


def write_paper_csvs(cfg: dict, notebook: str, metrics: dict, models, tasks, backbone: str) -> list[Path]:
    """results/<profile>/<notebook>_{fid_is,clip}_<backbone>.csv: the released code's tab-separated
    rows (``evaluate.paper_rows``); the backbone in the name keeps a substitute from passing as Inception/CLIP."""
    from l2l_utils.evaluate import paper_rows
    tables = paper_rows(metrics, models, tasks, backbone)
    paths = []
    for kind, table in zip(("fid_is", "clip"), tables):
        path = RESULTS_DIR / cfg["profile"] / f"{notebook}_{kind}_{backbone}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, sep="\t", index=False, float_format="%.6g")
        paths.append(path)
    return paths


def save_figure(fig, name: str, profile: str) -> Path:
    """figures/<profile>/<name>.png and .pdf (no timestamps, so reruns give the same files)."""
    out = FIGURES_DIR / profile
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", dpi=130, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(out / f"{name}.pdf", bbox_inches="tight", metadata={"CreationDate": None, "Creator": None})
    return out / f"{name}.png"


def write_samples(cfg: dict, name: str, test_sets: dict, generated: dict[str, dict], task: str, backbone,
                  n: int = 8, dims: int = 50) -> Path:
    """results/<profile>/samples/<name>.npz, what 10_analysis draws without rerunning anything:

    * ``<set>/ground_truth`` and ``<set>/<model>``: the ``n`` grid images of every test set (uint8), the
      same evenly spaced ones ``plots.inpainting_rows`` shows;
    * ``<set>/<kind>/pca``: backbone features of all real images and of every model's fills of ``task``,
      projected jointly onto their top ``dims`` principal components (float16) -- the usual first step
      of a t-SNE (van der Maaten & Hinton 2008), which keeps the file small.
    """
    import numpy as np
    from l2l_utils.metrics import extract_features
    from l2l_utils.plots import grid_index
    arrays, feats, rows = {}, [], []
    for subset, data in test_sets.items():
        idx = grid_index(len(data), n)
        arrays[f"{subset}/ground_truth"] = data.images[idx]
        feats.append(extract_features(backbone, data.images))
        rows.append(f"{subset}/real")
        for model, images in generated.items():
            arrays[f"{subset}/{model}"] = images[(task, subset)][idx]
            feats.append(extract_features(backbone, images[(task, subset)]))
            rows.append(f"{subset}/{model}")
    out = {k: (v.clamp(0, 1) * 255).round().to(torch.uint8).numpy() for k, v in arrays.items()}
    centred = torch.cat(feats).double()
    centred -= centred.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    projected = (centred @ v[:dims].T).float().split([len(f) for f in feats])
    out.update({f"{row}/pca": p.half().numpy() for row, p in zip(rows, projected)})
    path = RESULTS_DIR / cfg["profile"] / "samples" / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, task=np.array(task), **out)
    return path
