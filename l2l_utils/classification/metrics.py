"""SalUn's classification metrics (protocol §4): UA, RA, TA, MIA-Efficacy, Avg. Gap; mean +- std.

All predictions use the test transform and ``eval()``. UA = 100 - accuracy on D_f, RA = accuracy on
D_r, TA = test accuracy (remaining classes only in the class-wise scenario), all in percent.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.svm import SVC
from torch import Tensor, nn

from l2l_utils.classification.data import Scenario

METRICS = ("UA", "RA", "TA", "MIA")


@torch.no_grad()
def predict_proba(model: nn.Module, images: Tensor, batch_size: int = 512, device="cpu") -> Tensor:
    model.eval()
    return torch.cat([torch.softmax(model(images[i:i + batch_size].to(device)).float(), 1).cpu()
                      for i in range(0, len(images), batch_size)])


def accuracy(probs: Tensor, labels: Tensor) -> float:
    return 100.0 * (probs.argmax(1) == labels).float().mean().item()


def true_confidence(probs: Tensor, labels: Tensor) -> np.ndarray:
    """The MIA feature: the softmax probability of the true label (``SVC_MIA`` "confidence")."""
    return probs[torch.arange(len(labels)), labels].numpy().astype(np.float64)


def mia_efficacy(member_conf: np.ndarray, nonmember_conf: np.ndarray, target_conf: np.ndarray,
                 C: float = 3.0) -> float:
    """MIA-Efficacy (protocol §4, ``evaluation/SVC_MIA.py``): an RBF SVC (C=3, gamma="auto") fit on
    the shadow confidences, members (label 1) vs non-members (label 0); the percentage of the
    target (D_f) samples it predicts to be non-members. Higher = more forgotten."""
    x = np.concatenate([member_conf, nonmember_conf])[:, None]
    y = np.concatenate([np.ones(len(member_conf)), np.zeros(len(nonmember_conf))])
    clf = SVC(C=C, gamma="auto", kernel="rbf").fit(x, y)
    return 100.0 * float((clf.predict(np.asarray(target_conf)[:, None]) == 0).mean())


def evaluate(model: nn.Module, sc: Scenario, batch_size: int = 512, device="cpu") -> dict[str, float]:
    """UA, RA, TA, MIA of one model on one scenario. MIA shadow members are the first |test| samples
    of D_r, non-members the (TA) test set, targets D_f (protocol §4)."""
    p_f = predict_proba(model, sc.forget.images, batch_size, device)
    p_r = predict_proba(model, sc.retain.images, batch_size, device)
    p_t = predict_proba(model, sc.test.images, batch_size, device)
    n = len(sc.test)
    members = true_confidence(p_r[:n], sc.retain.labels[:n])
    return {"UA": 100.0 - accuracy(p_f, sc.forget.labels), "RA": accuracy(p_r, sc.retain.labels),
            "TA": accuracy(p_t, sc.test.labels),
            "MIA": mia_efficacy(members, true_confidence(p_t, sc.test.labels), true_confidence(p_f, sc.forget.labels))}


def avg_gap(row: dict[str, float], reference: dict[str, float], keys=METRICS) -> float:
    """Avg. Gap = mean over {UA, RA, TA, MIA} of |m - m_Retrain| (protocol §4; RTE excluded)."""
    return float(np.mean([abs(row[k] - reference[k]) for k in keys]))


def summarize(runs: dict[str, list[dict[str, float]]], reference: str = "retrain") -> dict[str, dict[str, float]]:
    """Per method: mean and std (over seeds, ddof=1 when >1 seed) of every recorded metric, plus

    * ``gap`` -- the paper's Avg. Gap, computed from the *means* against Retrain's means;
    * ``gap_seed`` -- mean +- std of the per-seed Avg. Gap against the same seed's Retrain.
    """
    ref_runs = runs[reference]
    ref_mean = {k: float(np.mean([r[k] for r in ref_runs])) for k in METRICS}
    table = {}
    for method, rows in runs.items():
        entry = {}
        for k in rows[0]:
            values = np.array([r[k] for r in rows], dtype=float)
            entry[f"{k}_mean"] = float(values.mean())
            entry[f"{k}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        entry["gap"] = avg_gap({k: entry[f"{k}_mean"] for k in METRICS}, ref_mean)
        per_seed = np.array([avg_gap(r, ref) for r, ref in zip(rows, ref_runs)])
        entry["gap_seed_mean"] = float(per_seed.mean())
        entry["gap_seed_std"] = float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0
        table[method] = entry
    return table


def _paper_rows(text: str) -> dict[str, dict[str, tuple]]:
    rows = {}
    for line in text.strip().splitlines():
        name, *cells, rte = line.split()
        rows[name] = {k: tuple(map(float, c.split("±"))) for k, c in zip(METRICS, cells)}
        rows[name]["RTE"] = (float(rte), None)
    return rows


# The paper's CIFAR-10 / ResNet-18 table, random forgetting (protocol §5, read from [PROJ] tab1.png):
# method: UA, RA, TA, MIA as mean±std over 10 trials, RTE (unit not printed; presumably minutes).
PAPER_CIFAR10 = {
    "random_10": _paper_rows("""
        retrain   5.24±0.69 100.00±0.00 94.26±0.02 12.88±0.09 43.29
        ft        0.63±0.55  99.88±0.08 94.06±0.27  2.70±0.01  2.37
        rl        7.61±0.31  99.67±0.14 92.83±0.38 37.36±0.06  2.64
        ga        0.69±0.54  99.50±0.38 94.01±0.47  1.70±0.01  0.13
        iu        1.07±0.28  99.20±0.22 93.20±1.03  2.67±0.01  3.22
        be        0.59±0.30  99.42±0.33 93.85±1.02  7.47±1.15  0.26
        bs        1.78±2.52  98.29±2.50 92.69±2.99  8.96±0.13  0.43
        l1_sparse 4.19±0.62  97.74±0.33 91.59±0.57  9.84±0.00  2.36
        salun     2.85±0.43  99.62±0.12 93.93±0.29 14.39±0.82  2.66
    """),
    "random_50": _paper_rows("""
        retrain   7.91±0.11 100.00±0.00 91.72±0.31 19.29±0.06 23.90
        ft        0.44±0.37  99.96±0.03 94.23±0.03  2.15±0.01  1.31
        rl        4.80±0.84  99.55±0.19 91.31±0.27 41.95±0.05  2.65
        ga        0.40±0.33  99.61±0.32 94.34±0.01  1.22±0.00  0.66
        iu        3.97±2.48  96.21±2.31 90.00±2.53  7.29±0.03  3.25
        be        3.08±0.41  96.84±0.49 90.41±0.09 24.87±0.03  1.31
        bs        9.76±0.48  90.19±0.82 83.71±0.93 32.15±0.01  2.12
        l1_sparse 1.44±6.33  99.52±4.53 93.13±4.04  4.76±0.09  1.31
        salun     7.75±1.04  94.28±1.01 89.29±0.72 16.99±0.71  2.68
    """),
}

COLUMNS = (*METRICS, "gap", "rte_min")


def results_table(summary: dict[str, dict[str, float]]) -> "pd.DataFrame":
    """The paper's table shape: methods x (UA, RA, TA, MIA as mean ± std, Avg. Gap from the means,
    per-seed Avg. Gap mean ± std, RTE in minutes)."""
    import pandas as pd
    cell = lambda e, k: f"{e[f'{k}_mean']:.2f} ± {e[f'{k}_std']:.2f}"
    rows = {m: {**{k: cell(e, k) for k in METRICS}, "Avg. Gap": f"{e['gap']:.2f}",
                "Avg. Gap per seed": cell(e, "gap_seed"),
                "RTE (min)": f"{e['rte_min_mean']:.3f}" if "rte_min_mean" in e else "–"}
            for m, e in summary.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def paper_table(scenario: str) -> "pd.DataFrame":
    """The paper's CIFAR-10 numbers (``PAPER_CIFAR10``) in the same shape, Avg. Gap recomputed."""
    import pandas as pd
    rows = PAPER_CIFAR10[scenario]
    ref = {k: rows["retrain"][k][0] for k in METRICS}
    return pd.DataFrame.from_dict(
        {m: {**{k: f"{r[k][0]:.2f} ± {r[k][1]:.2f}" for k in METRICS},
             "Avg. Gap": f"{avg_gap({k: r[k][0] for k in METRICS}, ref):.2f}", "RTE (paper)": f"{r['RTE'][0]:.2f}"}
         for m, r in rows.items()}, orient="index")


def flat_metrics(summary: dict[str, dict[str, float]], scenario: str) -> dict[str, float]:
    """``<scenario>/<method>/<metric>`` for the results JSON."""
    return {f"{scenario}/{m}/{k}": v for m, e in summary.items() for k, v in e.items()}


def gap_ranking(summary: dict[str, dict[str, float]], reference: str = "retrain") -> list[tuple[str, float]]:
    """Unlearning methods sorted by Avg. Gap (from the means), smallest first; the paper's claim is that
    SalUn comes first."""
    return sorted(((m, e["gap"]) for m, e in summary.items() if m not in (reference, "original")),
                  key=lambda t: t[1])
