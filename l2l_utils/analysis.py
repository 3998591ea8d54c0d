"""Tables and figures from recorded results only (``results/<profile>/``): what 10_analysis draws.

Nothing here trains or generates. The method tables have the shape of Li et al. (ICLR 2024) Tables 1-2
(methods x {FID, IS, CLIP-analog} x {retain, forget}, plus our hole MSE), one per family and task, with
mean +- std over the seeds found; image grids and t-SNE read the ``samples/*.npz`` files the
unlearning notebooks write (``experiment.write_samples``); the ablation, availability and oracle
plots read 06, 07 and 02.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from l2l_utils.evaluate import metric_name
from l2l_utils.study import FAMILIES

# CLIP* = the profile's cosine analog; hole MSE (pixels in the hole) is ours, not the paper's
METRICS = {"FID": "fid", "IS": "is_mean", "CLIP*": "cosine", "hole MSE": "hole_mse"}
SUBSETS = {"R": "retain", "F": "forget"}


def load_results(results_dir: Path) -> dict[str, dict]:
    """Every ``<name>.json`` of a profile's results folder, by name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(Path(results_dir).glob("*.json"))}


def row_label(meta: dict) -> str:
    """The table row of a run: method[+salun r][+proxy | +noretain] (seeds are averaged, not labelled)."""
    label = meta["method"] + (f"+salun{meta['saliency']}" if meta.get("saliency") is not None else "")
    return label + {"real": "", "proxy": "+proxy", "none": "+noretain"}[meta.get("retain_set", "real")]


def family_runs(results: dict, family: str) -> dict[str, dict]:
    """The family notebook's result files (one per table row and seed)."""
    notebook = FAMILIES[family]
    return {name: r for name, r in results.items()
            if (name == notebook or name.startswith(f"{notebook}__")) and "method" in r["meta"]}


def metric_key(model: str, task: str, subset: str, metric: str, backbone: str) -> str:
    return f"{model}/{task}/{subset}/{metric_name(metric, backbone)}"


def method_table(runs: dict[str, dict], task: str, backbone: str = "MNv2") -> pd.DataFrame:
    """Rows Original + every method found; columns (metric, R/F) -> (mean, std, n over seeds).

    The original model's numbers are taken once per seed (every run of a seed shares them)."""
    values: dict[str, dict[tuple, list]] = {}
    originals_seen = set()
    for result in runs.values():
        meta, metrics = result["meta"], result["metrics"]
        models = [("unlearned", row_label(meta))]
        if meta["seed"] not in originals_seen:
            originals_seen.add(meta["seed"])
            models.append(("original", "original"))
        for model, label in models:
            for name, metric in METRICS.items():
                for tag, subset in SUBSETS.items():
                    key = metric_key(model, task, subset, metric, backbone)
                    if key in metrics:
                        values.setdefault(label, {}).setdefault((name, tag), []).append(metrics[key])
    table = {label: {(*col, stat): fn(v) for col, v in cols.items()
                     for stat, fn in (("mean", np.mean), ("std", _std), ("n", len))}
             for label, cols in values.items()}
    frame = pd.DataFrame.from_dict(table, orient="index")
    order = ["original"] + sorted(i for i in frame.index if i != "original")
    return frame.reindex(order).sort_index(axis=1)


def _std(v) -> float:
    return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")


def table_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """mean +- std (std only where there are several seeds) as a Markdown table."""
    cols = [(m, t) for t in SUBSETS for m in METRICS if (m, t, "mean") in table.columns]  # as the paper: R, then F
    lines = ["| model | " + " | ".join(f"{m}_{t}" for m, t in cols) + " | seeds |",
             "| --- " * (len(cols) + 2) + "|"]
    for label, row in table.iterrows():
        cells = []
        for m, t in cols:
            mean, std = row[(m, t, "mean")], row[(m, t, "std")]
            cells.append(f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if np.isfinite(std) else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {int(row[(cols[0][0], cols[0][1], 'n')])} |")
    return "\n".join(lines)


def wrapped(text: str, width: int = 110) -> str:
    """A caption as a figure title: wrapped so it never runs off the figure."""
    return textwrap.fill(text, width)


def table_figure(table: pd.DataFrame, title: str):
    """The table as a heatmap: colour = change against the original row (per column, in units of the
    original value), text = the mean. Up is better for IS/CLIP on retain and for FID on forget."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    means = table.xs("mean", axis=1, level=2)
    means = means[[(m, t) for t in SUBSETS for m in METRICS if (m, t) in means.columns]]
    means.columns = [f"{m}_{t}" for m, t in means.columns]
    change = means / means.loc["original"] - 1
    fig, ax = plt.subplots(figsize=(1.1 * len(means.columns) + 2, 0.45 * len(means) + 1.2))
    sns.heatmap(change, annot=means, fmt=".3g", cmap="vlag", center=0, cbar_kws={"label": "relative to original"},
                ax=ax, annot_kws={"fontsize": 7})
    ax.set(xlabel="", ylabel="")
    ax.set_title(wrapped(title, 90), fontsize=8)
    return fig


def load_samples(results_dir: Path, name: str) -> dict[str, np.ndarray] | None:
    path = Path(results_dir) / "samples" / f"{name}.npz"
    if not path.is_file():
        return None
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def method_grid_rows(results_dir: Path, runs: dict[str, dict], n: int = 8) -> dict[str, np.ndarray]:
    """Figure 1/3 rows: per test set the ground truth, the original's fill and every method's fill
    (seed 0 runs), as (N, 3, H, W) float arrays for ``plots.image_grid``."""
    import torch
    rows, originals = {}, None
    for name, result in sorted(runs.items(), key=lambda kv: row_label(kv[1]["meta"])):
        if result["meta"]["seed"] != 0:
            continue
        samples = load_samples(results_dir, name)
        if samples is None:
            continue
        originals = originals or samples
        for subset in SUBSETS.values():
            rows[f"{subset}: {row_label(result['meta'])}"] = samples[f"{subset}/unlearned"]
    if originals is None:
        return {}
    ordered = {}
    for subset in SUBSETS.values():
        ordered[f"{subset}: ground truth"] = originals[f"{subset}/ground_truth"]
        ordered[f"{subset}: original"] = originals[f"{subset}/original"]
        ordered.update({k: v for k, v in rows.items() if k.startswith(f"{subset}:")})
    return {k: torch.from_numpy(v[:n]).float() / 255 for k, v in ordered.items()}


def tsne_frame(samples: dict[str, np.ndarray], perplexity: float = 20, seed: int = 0) -> pd.DataFrame:
    """Figure 4: a t-SNE (perplexity 20, as the paper) of real images and the original's and the
    unlearned model's fills, forget and retain, from the stored PCA-50 backbone features."""
    from sklearn.manifold import TSNE
    groups = [k.removesuffix("/pca") for k in samples if k.endswith("/pca")]
    feats = np.concatenate([samples[f"{g}/pca"].astype(np.float32) for g in groups])
    xy = TSNE(perplexity=perplexity, random_state=seed, init="pca").fit_transform(feats)
    labels = np.concatenate([[g] * len(samples[f"{g}/pca"]) for g in groups])
    subset, source = zip(*(g.split("/") for g in labels))
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "set": subset, "images": source})


def sweep_frame(result: dict, task: str, backbone: str = "MNv2") -> pd.DataFrame:
    """A 06/07 sweep's rows: the run settings recorded in the meta and ``evaluate.claim_check``
    against the original (forget FID ratio, retain FID growth, the hole-MSE ratios, cosine drops)."""
    from l2l_utils.evaluate import claim_check
    metrics = result["metrics"]
    original = {k: v for k, v in metrics.items() if k.startswith("original/")}
    records = {}
    for label, settings in result["meta"]["runs"].items():
        run = {f"unlearned/{k.removeprefix(label + '/')}": v for k, v in metrics.items() if k.startswith(label + "/")}
        records[label] = {**settings, **claim_check({**original, **run}, task, backbone=backbone)}
    return pd.DataFrame.from_dict(records, orient="index")


def caption(result_meta: dict, what: str, seeds) -> str:
    """What made a figure: profile, seeds, data, backbone substitutions."""
    seeds = ", ".join(str(s) for s in sorted(set(seeds)))
    data = f"{result_meta['dataset']} (forget {', '.join(result_meta['forget_classes'])})"
    backbone = result_meta["backbone"]
    note = " (offline substitute for Inception/CLIP; IS on the clip-art classifier)" if backbone == "mobilenetv2" else ""
    return f"{what}. Profile {result_meta['profile']}, seed(s) {seeds}, data {data}, features {backbone}{note}."

