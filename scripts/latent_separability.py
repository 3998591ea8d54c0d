"""Does the base model's encoder keep the forget images apart from the retain images? For each evaluation
task of the profile: the distance from a held-out forget image's latent to its noise target (what the
forget term of Li et al. 2024, Eq. 10, asks the encoder to cover) against the distance to the nearest
held-out retain image's latent (what the retain term asks it to keep), and linear probes for forget vs
retain on the latent and on the visible pixels (``l2l_utils.latents.separability``). With
``--checkpoints``, also the objective's two terms on the held-out images for each unlearned run
(``latents.heldout_terms``): how much of what it learnt carries over to unseen images.

    python scripts/latent_separability.py --profile fashion --family mage \
        [--checkpoints runs/fashion/03_unlearn_vqgan_alpha0.2_seed0.pt ...]
    # -> results/<profile>/latent_separability__<family>.json
"""
import argparse
import copy
from pathlib import Path

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.experiment import (checkpoint_provenance, load_base_model, load_experiment_data, run_metadata,
                                  write_results)
from l2l_utils.latents import heldout_terms, separability
from l2l_utils.masks import make_mask
from l2l_utils.profiles import get_profile
from l2l_utils.unlearn import load_unlearned


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="fashion")
    ap.add_argument("--family", default="mage", choices=["mae", "mage"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoints", nargs="*", default=[], help="unlearning runs of the profile's base model")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = get_profile(args.profile)
    model = load_base_model(cfg, args.family).to(cfg["device"]).eval()
    data = load_experiment_data(cfg, args.seed, image_size=model.image_size, proxy=False)
    missing = [p for p in args.checkpoints if not (PROJECT_ROOT / p).is_file()]
    if missing:
        raise SystemExit(f"no unlearning run at {', '.join(missing)}: run its notebook or sweep first")
    runs = {Path(p).stem: load_unlearned(copy.deepcopy(model), PROJECT_ROOT / p).to(cfg["device"])
            for p in args.checkpoints}
    metrics = {}
    for task in cfg["eval_tasks"]:
        mask = make_mask(task, 1, model.image_size)
        rows = {"original": separability(model, data, mask, args.seed, cfg["eval_batch_size"]),
                **heldout_terms(runs, model, data, mask, args.seed, cfg["eval_batch_size"])}
        for name, row in rows.items():
            metrics.update({f"{name}/{task}/{k}": v for k, v in row.items()})
            print(name, task, {k: round(v, 4) for k, v in row.items()})
    meta = {**run_metadata(cfg, args.seed, args.family), "family": args.family,
            "images": {name: len(d) for name, d in data.items()},
            "checkpoints": {Path(p).stem: checkpoint_provenance(PROJECT_ROOT / p) for p in args.checkpoints}}
    path = write_results(cfg, f"latent_separability__{args.family}", metrics, meta)
    print(path)


if __name__ == "__main__":
    main()
