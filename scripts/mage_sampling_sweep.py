"""Do MAGE's sampling choices make the tiny model's fills recognisable?

Fills the test split's holes (centre r = 1/4, 1/2, outpainting) over a grid of decoding settings
(``MAGEGenerator``: token temperature, Gumbel re-masking temperature, token margin) and records, for
each, how often the clip-art judge (``is_classifier_clipart.pt``) puts the filled image in its class and
the hole MSE. Picking the best of many settings on the images it is then reported on would flatter it,
so the test split is cut in two seeded halves: the setting is chosen on the ``select`` half (mean over
the three views) and its numbers are read on the ``report`` half, beside the reference setting's
(token temperature 1, choice temperature 6, margin 1: testpaint.py, every profile) on the same images.
Writes ``results/pretraining/mage_sampling_<checkpoint stem>.json``.

    python scripts/mage_sampling_sweep.py [--checkpoint checkpoints/mage_tiny_perceptual_clipart.pt]
"""
import argparse
import itertools
import json
import os
import time

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import load_clipart
from l2l_utils.evaluate import generate, hole_mse, judged_hits
from l2l_utils.metrics.classifier import load_is_classifier
from l2l_utils.models.mage import load_mage_checkpoint
from l2l_utils.pretrain_mage import EVAL_TASKS as TASKS

REFERENCE = {"token_temperature": 1.0, "choice_temperature": 6.0, "token_margin": 1}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(PROJECT_ROOT / "checkpoints" / "mage_tiny_perceptual_clipart.pt"))
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--token-temperatures", type=float, nargs="+", default=[1.0, 0.7, 0.4, 0.1])
    ap.add_argument("--choice-temperatures", type=float, nargs="+", default=[6.0, 1.0])
    ap.add_argument("--token-margins", type=int, nargs="+", default=[1, 0])
    ap.add_argument("--seed", type=int, default=0, help="the decoding noise and the halves' split")
    ap.add_argument("--images", type=int, help="use only the first N test images (a quick check)")
    ap.add_argument("--out", help="default results/pretraining/mage_sampling_<checkpoint stem>.json")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = load_mage_checkpoint(args.checkpoint, args.config).eval()
    test, judge = load_clipart("test"), load_is_classifier()
    if args.images:
        test = test.subset(range(args.images))
    halves = dict(zip(("select", "report"), torch.randperm(len(test), generator=torch.Generator().manual_seed(
        args.seed)).chunk(2)))

    settings = [dict(zip(REFERENCE, values)) for values in
                itertools.product(args.token_temperatures, args.choice_temperatures, args.token_margins)]
    if REFERENCE not in settings:
        settings.insert(0, dict(REFERENCE))
    rows, hits = [], []  # hits: per row, per view, which images the judge recognised
    for setting in settings:
        for name, value in setting.items():
            setattr(gen, name, value)
        start, row = time.time(), dict(setting)
        hits.append({})
        for task in TASKS:
            filled, masks = generate(gen, test.images, task, batch_size=256, seed=args.seed)
            hits[-1][task] = judged_hits(judge, filled, test.labels).float()
            row[task] = {"hole_mse": hole_mse(filled, test.images, masks),
                         **{half: hits[-1][task][index].mean().item() for half, index in halves.items()}}
        row["seconds"] = round(time.time() - start, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)

    best = max(range(len(rows)), key=lambda i: sum(rows[i][task]["select"] for task in TASKS))
    reference = settings.index(REFERENCE)
    # the two settings judge the same images: the paired difference's standard error
    differences = {task: hits[best][task][halves["report"]] - hits[reference][task][halves["report"]]
                   for task in TASKS}
    out = {"checkpoint": os.path.relpath(args.checkpoint, PROJECT_ROOT), "seed": args.seed,
           "test_images": len(test), "half_size": len(halves["report"]), "judge": "is_classifier_clipart.pt",
           "chosen_on_select": {k: rows[best][k] for k in REFERENCE},
           "report_half": {name: {task: rows[i][task]["report"] for task in TASKS}
                           for name, i in (("chosen", best), ("reference", reference))},
           "report_half_chosen_minus_reference": {
               task: {"difference": d.mean().item(), "paired_se": (d.std() / len(d) ** 0.5).item()}
               for task, d in differences.items()},
           "settings": rows, "torch": torch.__version__, "threads": args.threads, "device": "cpu"}
    path = args.out or str(PROJECT_ROOT / "results" / "pretraining" /
                           f"mage_sampling_{os.path.splitext(os.path.basename(args.checkpoint))[0]}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: out[k] for k in ("chosen_on_select", "report_half", "report_half_chosen_minus_reference")},
                     indent=1))


if __name__ == "__main__":
    main()
