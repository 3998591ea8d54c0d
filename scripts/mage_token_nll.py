"""Forgetting in token space: how well each MAGE model of the 03 table still predicts the true tokens of a
hole, on forget and on retain held-out images (``pretrain_mage.hole_token_nll``: the transformer's NLL
of the hole's tokens, its top-1 accuracy, and the context-blind cross-entropy of those positions'
training-split token frequencies, counted once with the original tokenizer). Reuses the finished unlearning runs in ``runs/<profile>/``; a missing
run is trained first, as ``03_unlearn_vqgan`` would.

    python scripts/mage_token_nll.py [--profile embedded] [--seed 0]   # -> results/<profile>/mage_token_nll.json
"""
import argparse

import torch

from l2l_utils.data import ImageDataset
from l2l_utils.experiment import run_metadata, write_results
from l2l_utils.pretrain_mage import hole_token_log_frequencies, hole_token_nll
from l2l_utils.profiles import get_profile
from l2l_utils.study import Study, table_models


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="embedded")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--task", default="center_0.5")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = get_profile(args.profile)
    study = Study(cfg, "mage", args.seed, proxy=bool(cfg["proxy"]), tasks=[args.task])
    parts = [study.data[k] for k in ("forget_train", "retain_train", "proxy_train") if k in study.data]
    train = ImageDataset.concat(parts, "every training class")
    models = table_models(study)
    frequencies = hole_token_log_frequencies(study.base, train, args.task)
    metrics = {}
    for label, model in models.items():
        for subset, test in study.test_sets.items():
            score = hole_token_nll(model.eval(), test, frequencies, args.task)
            for key in ("model_nll", "model_top1", "marginal_ce"):
                metrics[f"{label}/{args.task}/{subset}/token_{key}"] = score[key]
        print(label, {k.split("/", 1)[1]: round(v, 4) for k, v in metrics.items() if k.startswith(f"{label}/")})
    meta = {**run_metadata(cfg, args.seed, "mage"), "family": "mage", "task": args.task, "threads": args.threads,
            "hole_tokens": score["hole_tokens"], "train_images": len(train),
            "what": "NLL (nats/token) and top-1 of the true hole tokens under each model; marginal_ce: the "
                    "same tokens under their positions' training-split frequencies (context-blind)"}
    print(write_results(cfg, "mage_token_nll", metrics, meta))


if __name__ == "__main__":
    main()
