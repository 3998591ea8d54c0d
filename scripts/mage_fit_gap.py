"""Is the tiny MAGE short of capacity/steps, or of data? Its hole-token NLL on training images it has
seen against held-out ones.

For each checkpoint and view (centre r = 1/4, 1/2, outpainting): ``pretrain_mage.hole_token_nll`` (the
transformer's NLL of the hole's true tokens, nats/token, and its top-1 accuracy, beside the
context-blind cross-entropy of the positions' training-split frequencies) on a seeded subset of the
train split as large as the test split, and on the test split. A model that has not fitted its
training images (NLL near the frequencies' on both) wants more capacity or steps; one whose train NLL
falls while the test NLL stays wants more data. Writes ``results/pretraining/mage_fit_gap.json``.

    python scripts/mage_fit_gap.py --checkpoints checkpoints/mage_tiny_clipart.pt checkpoints/mage_tiny_perceptual_clipart.pt
"""
import argparse
import json
import os

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import load_clipart
from l2l_utils.io import file_sha256
from l2l_utils.models.mage import load_mage_checkpoint
from l2l_utils.pretrain_mage import EVAL_TASKS, hole_token_log_frequencies, hole_token_nll, tokenize_all

MEASURES = ("model_nll", "model_top1", "marginal_ce")


def seen_subset(train, size: int, seed: int):
    """``size`` training images drawn without replacement (seeded)."""
    return train.subset(torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:size])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", nargs="+", required=True)
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--tasks", nargs="+", default=list(EVAL_TASKS))
    ap.add_argument("--seed", type=int, default=0, help="which training images are scored")
    ap.add_argument("--out", default=str(PROJECT_ROOT / "results" / "pretraining" / "mage_fit_gap.json"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load_clipart("train"), load_clipart("test")
    seen = seen_subset(train, len(test), args.seed)
    models = {}
    for path in args.checkpoints:
        gen = load_mage_checkpoint(path, args.config).eval()
        row = {"sha256": file_sha256(path)}
        train_ids = tokenize_all(gen.mage.tokenize, train.images)
        for task in args.tasks:
            frequencies = hole_token_log_frequencies(gen, train, task, train_ids)
            scores = {name: hole_token_nll(gen, images, frequencies, task) for name, images in
                      (("train", seen), ("test", test))}
            row[task] = {name: {k: score[k] for k in MEASURES} for name, score in scores.items()}
            row[task]["nll_test_minus_train"] = scores["test"]["model_nll"] - scores["train"]["model_nll"]
            print(os.path.basename(path), task, json.dumps(row[task]), flush=True)
        models[path] = row
    out = {"images_per_split": len(test), "seed": args.seed, "what": __doc__.split("\n\n")[1].replace("\n", " "),
           "models": models, "torch": torch.__version__, "threads": args.threads, "device": "cpu"}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
