"""Figures shared by the notebooks: image grids and metric tables."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import torch


def image_grid(rows: dict[str, torch.Tensor], n: int = 8, title: str | None = None):
    """One row per entry (label -> (N,3,H,W) images in [0,1]); first ``n`` images of each."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.1 * n, 1.25 * len(rows)), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        strip = torch.cat(list(images[:n].clamp(0, 1)), dim=2).permute(1, 2, 0).numpy()
        ax.imshow(strip)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def grid_index(count: int, n: int = 8) -> torch.Tensor:
    """The ``n`` evenly spaced images of a set of ``count`` that every grid shows."""
    return torch.arange(0, count, max(1, count // n))[:n]


def inpainting_rows(test_sets: dict, generated: dict[str, dict], task: str, n: int = 8) -> dict:
    """Rows for ``image_grid``: per test set, the masked input, each model's fill, the ground truth.

    ``generated`` maps a model name to the ``evaluate`` images dict ((task, set) -> images); the
    same ``n`` evenly spaced images of every set are shown."""
    from l2l_utils.masks import apply_mask, make_mask
    rows = {}
    for subset, data in test_sets.items():
        idx = grid_index(len(data), n)
        x = data.images[idx]
        rows[f"{subset}: input"] = apply_mask(x, make_mask(task, len(x), x.shape[-1]), 0.5)
        for model, images in generated.items():
            rows[f"{subset}: {model}"] = images[(task, subset)][idx]
        rows[f"{subset}: ground truth"] = x
    return rows


def metrics_table(metrics: dict[str, float], models: list[str]) -> pd.DataFrame:
    """Flat keys '<model>/<task>/<set>/<metric>' -> rows (model, task), columns (set, metric)."""
    records = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) != 4:  # e.g. claim/<task>/<check>
            continue
        model, task, subset, metric = parts
        if model in models and metric != "n":
            records.setdefault((model, task), {})[(subset, metric)] = value
    table = pd.DataFrame.from_dict(records, orient="index")
    table.index.names = ["model", "task"]
    return table.sort_index(axis=1).reindex(models, level="model")


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub Markdown table (index levels first), without extra dependencies."""
    flat = table.reset_index()
    header = ["/".join(str(p) for p in c if p != "") if isinstance(c, tuple) else str(c) for c in flat.columns]

    def cell(v):
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)
    rows = [" | ".join(cell(v) for v in row) for row in flat.itertuples(index=False)]
    return "\n".join([" | ".join(header), " | ".join("---" for _ in header)] + rows)


def figure_png(fig) -> bytes:
    """A figure as PNG bytes (for an ``ipywidgets.Image``), closing it so it is not shown twice."""
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
