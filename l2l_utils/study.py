"""One family's experiment, loaded once and unlearned many times: the sweeps of 06_ablation,
07_retain_availability and 02_retrain_oracle.

A :class:`Study` holds one family's base model, data and metric models, and the original model's
evaluation (computed once, cached on disk under ``runs/<profile>/eval_cache/``: generation is
deterministic given the weights, the sampler settings, the test images and the seed, and those are
what the cache key hashes). Each :meth:`Study.run` unlearns a fresh copy with the profile's settings
overridden (method, alpha, noise type, saliency, retain pool, seed), evaluates it on the same test sets
and returns one flat row: settings and unlearned metrics (``analysis.sweep_frame`` compares them with
the original).
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import ImageDataset
from l2l_utils.evaluate import evaluate
from l2l_utils.experiment import load_base_model, load_experiment_data, load_metric_models, result_name, retain_for
from l2l_utils.io import atomic_torch_save, fingerprint
from l2l_utils.unlearn import UnlearnConfig, unlearn

FAMILIES = {"mae": "05_unlearn_mae", "mage": "03_unlearn_vqgan", "palette": "04_unlearn_diffusion"}
FAMILY_LABELS = {"mae": "MAE", "mage": "MAGE (VQ-GAN)", "palette": "Palette (diffusion)"}
# generation knobs a model may carry (MAGE: the first four, Palette: sample_steps)
SAMPLER_SETTINGS = ("num_iter", "choice_temperature", "token_temperature", "token_margin", "sample_steps")

# The rows of Li et al. (ICLR 2024) Tables 1-2 (Original is every run's "original" column), plus, new
# here, Ours + SalUn saliency: row -> notebook parameters. NOISY LABEL has no diffusion form
# (``PaletteGenerator.noise_target``).
TABLE_ROWS = {"ours": {}, "max_loss": {"method": "max_loss"}, "noisy_label": {"method": "noisy_label"},
              "retain_label": {"method": "retain_label"}, "random_encoder": {"method": "random_encoder"},
              "ours+proxy": {"retain_set": "proxy"}, "ours+salun0.5": {"saliency": 0.5}}
NOT_IMPLEMENTED = {("palette", "noisy_label")}


def table_rows(family: str, with_proxy: bool = True) -> dict[str, dict]:
    """The table rows that exist for ``family`` (without the proxy row when there are no proxy classes)."""
    return {row: params for row, params in TABLE_ROWS.items()
            if (family, row) not in NOT_IMPLEMENTED and (with_proxy or "retain_set" not in params)}


def family_settings(cfg: dict, family: str) -> tuple[dict, list[str]]:
    """(UnlearnConfig keyword arguments, evaluation tasks) of ``family`` at the profile ``cfg``.

    The diffusion family has its own preset (alpha 0.1, protocol decision 5; box masks; one task)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {sorted(FAMILIES)}")
    if family == "palette":
        return (dict(alpha=cfg["palette_alpha"], steps=cfg["palette_unlearn_steps"],
                     batch_size=cfg["palette_batch_size"], blr=cfg["palette_blr"],
                     tasks=tuple(cfg["palette_unlearn_tasks"])), list(cfg["palette_eval_tasks"]))
    return (dict(alpha=cfg["alpha"], steps=cfg["unlearn_steps"], batch_size=cfg["batch_size"], blr=cfg["blr"]),
            list(cfg["eval_tasks"]))


def stratified(data: ImageDataset, count, seed: int, name: str) -> ImageDataset:
    """``count(n_c)`` random images of every class of ``data`` that has n_c (all of them if fewer)."""
    g = torch.Generator().manual_seed(seed)
    keep = []
    for label in data.labels.unique().tolist():
        idx = (data.labels == label).nonzero().flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:count(len(idx))]])
    return data.subset(torch.cat(keep).sort().values, name)


def retain_pool(data: dict, real_fraction: float = 1.0, proxy_ratio: float = 0.0, seed: int = 0):
    """The retain term's data for the availability study (Li et al. 2024, Sec. 5; protocol §6.1):

    * ``real_fraction`` p keeps ceil(p * n_c) real retain images of each class (released code
      ``--retainset_ratio``);
    * ``proxy_ratio`` r adds ceil(r * |forget| / #proxy classes) images of each proxy class, i.e. about
      r * |forget| in all (``--opendata_to_forget_ratio``);
    * both 0: None, i.e. no retain term (``unlearn`` then drops it).
    """
    if not 0 <= real_fraction <= 1 or proxy_ratio < 0:
        raise ValueError(f"real_fraction must be in [0, 1] and proxy_ratio >= 0, got {real_fraction}, {proxy_ratio}")
    parts = []
    if real_fraction > 0:
        parts.append(stratified(data["retain_train"], lambda n: math.ceil(real_fraction * n), seed, "retain (real)"))
    if proxy_ratio > 0:
        if "proxy_train" not in data:
            raise ValueError("a proxy ratio needs proxy data: load_experiment_data(..., proxy=True)")
        proxy = data["proxy_train"]
        per_class = math.ceil(proxy_ratio * len(data["forget_train"]) / len(proxy.labels.unique()))
        parts.append(stratified(proxy, lambda n: per_class, seed, "retain (proxy)"))
    if not parts:
        return None
    # Only the images matter to the retain term; labels of the two pools are kept for the record.
    return ImageDataset.concat(parts, "retain pool")


def cached_evaluate(model, test_sets: dict, tasks, backbone, classifier, batch_size: int, seed: int, device,
                    feature_cache: dict, cache_dir: Path) -> tuple[dict, dict]:
    """``evaluate.evaluate`` of ``model``, read from ``cache_dir`` when the same weights, sampler
    settings, test images, tasks, seed and metric models were evaluated before (exact: same numbers)."""
    sampler = sorted((k, getattr(model, k)) for k in SAMPLER_SETTINGS if hasattr(model, k))
    key = fingerprint(model.state_dict(), sampler, list(tasks), seed, backbone.name, classifier.state_dict(),
                       *[part for name, d in sorted(test_sets.items()) for part in (name, d.images)])
    path = Path(cache_dir) / f"{key}.pt"
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        return saved["metrics"], {tuple(k.split("|")): v for k, v in saved["images"].items()}
    metrics, images = evaluate(model, test_sets, tasks, backbone, classifier, batch_size, seed, device,
                               feature_cache)
    atomic_torch_save({"metrics": metrics, "images": {"|".join(k): v for k, v in images.items()}}, path)
    return metrics, images


class Study:
    """One family at one profile: load once, then :meth:`run` as many unlearning variants as needed."""

    def __init__(self, cfg: dict, family: str, seed: int = 0, proxy: bool = False, tasks=None, base=None):
        self.cfg, self.family, self.seed = cfg, family, seed
        self.defaults, default_tasks = family_settings(cfg, family)
        self.tasks = list(tasks or default_tasks)
        self.base = base if base is not None else load_base_model(cfg, family)
        self.data = load_experiment_data(cfg, seed, image_size=getattr(self.base, "image_size", None), proxy=proxy)
        self.backbone, self.classifier = load_metric_models(cfg)
        self.test_sets = {"retain": self.data["retain_test"], "forget": self.data["forget_test"]}
        self.feature_cache: dict = {}
        self.runs_dir = PROJECT_ROOT / "runs" / cfg["profile"]
        self.original, self.original_images = self.evaluate(self.base)

    def evaluate(self, model) -> tuple[dict, dict]:
        return cached_evaluate(model, self.test_sets, self.tasks, self.backbone, self.classifier,
                               self.cfg["eval_batch_size"], self.seed, self.cfg["device"], self.feature_cache,
                               self.runs_dir / "eval_cache")

    def unlearn_config(self, **overrides) -> UnlearnConfig:
        return UnlearnConfig(**{**self.defaults, "seed": self.seed, **overrides})

    def checkpoint(self, ucfg: UnlearnConfig, retain_set: str = "real", pool: str = "") -> Path:
        """Where a run is saved: at the profile's steps and alpha, the family notebook's own path for the
        same method, retain set and seed (so a sweep reuses the notebook's runs and the other way round);
        the alpha, and the steps, the noise type and a retain-``pool`` tag when they differ from the
        defaults, tell the sweep's other runs apart."""
        name = result_name(FAMILIES[self.family], ucfg, retain_set) + f"_alpha{ucfg.alpha}"
        name += "" if ucfg.steps == self.defaults["steps"] else f"_steps{ucfg.steps}"
        name += "" if ucfg.noise_type == "normal" else f"_noise-{ucfg.noise_type}"
        return self.runs_dir / f"{name}{pool}_seed{ucfg.seed}.pt"

    def unlearned(self, retain: ImageDataset | None, retain_set: str = "real", pool: str = "", **overrides):
        """A copy of the base model unlearned with ``overrides`` of the profile's settings, checkpointed
        (and resumed: a finished run is only loaded) at :meth:`checkpoint`; returns (model, history,
        config, checkpoint path)."""
        ucfg = self.unlearn_config(**overrides)
        path = self.checkpoint(ucfg, retain_set, pool)
        model, history = unlearn(copy.deepcopy(self.base), self.data["forget_train"], retain, ucfg,
                                 checkpoint=path, resume=True, device=self.cfg["device"], progress=False)
        return model, history, ucfg, path

    def run(self, retain: ImageDataset | None, retain_set: str = "real", pool: str = "",
            **overrides) -> tuple[dict, dict]:
        """:meth:`unlearned`, evaluated on the test sets; returns (row, generated images)."""
        model, history, ucfg, path = self.unlearned(retain, retain_set, pool, **overrides)
        name = path.stem.removesuffix(f"_seed{ucfg.seed}")
        after, images = self.evaluate(model)
        row = {"name": name, "family": self.family, "seed": self.seed, "method": ucfg.method, "alpha": ucfg.alpha,
               "noise_type": ucfg.noise_type, "saliency": ucfg.saliency, "steps": ucfg.steps,
               "retain_images": 0 if retain is None else len(retain), "final_forget_term": history[-1]["forget"],
               # without a retain set the logged retain term was computed on forget images: not reported
               "final_retain_term": history[-1]["retain"] if retain is not None else None,
               **{f"unlearned/{k}": v for k, v in after.items()}}
        return row, images


def table_models(study: Study) -> dict:
    """The original model and one unlearned model per row of the family's table (:func:`table_rows`), each
    loaded when its run at :meth:`Study.checkpoint` is finished (the family notebook's own), else trained."""
    models = {"original": study.base}
    for label, params in table_rows(study.family, with_proxy=bool(study.cfg["proxy"])).items():
        retain_set = params.get("retain_set", "real")
        overrides = {k: v for k, v in params.items() if k != "retain_set"}
        models[label] = study.unlearned(retain_for(study.data, retain_set), retain_set, **overrides)[0]
    return models


def sweep_metrics(original: dict, rows: dict[str, dict]) -> dict:
    """One flat metrics dict for a sweep's result file: ``original/<task>/<set>/<metric>`` and, for each
    row label, ``<label>/<task>/<set>/<metric>`` (the layout ``plots.metrics_table`` reads)."""
    metrics = {f"original/{k}": v for k, v in original.items()}
    for label, row in rows.items():
        metrics.update({f"{label}/{k.removeprefix('unlearned/')}": v for k, v in row.items()
                        if k.startswith("unlearned/")})
    return metrics


def output_fid(reference: dict, others: dict[str, dict], task: str, test_sets: dict, backbone,
               batch_size: int = 256):
    """FID between each model's fills and the ``reference`` model's fills of the same held-out inputs,
    per test set: how far a model's outputs are from, e.g., the retrained oracle's. Generated-image
    dicts are ``evaluate``'s ((task, set) -> images); returns a DataFrame (model x set)."""
    import pandas as pd
    from l2l_utils.metrics import extract_features
    from l2l_utils.metrics.image_metrics import fid_from_features
    table = {}
    for subset in test_sets:
        ref = extract_features(backbone, reference[(task, subset)], batch_size)
        for model, images in others.items():
            table.setdefault(model, {})[subset] = fid_from_features(
                ref, extract_features(backbone, images[(task, subset)], batch_size))
    return pd.DataFrame.from_dict(table, orient="index")
