"""Forgetting as recognition: how often the profile's in-domain classifier puts each MAGE model's fills of
held-out forget and retain images in their class (``evaluate.judged_accuracy``; the models of the 03
table, ``study.table_models``), beside the same images whole, with a grey hole and with the hole filled
with the mean visible colour (a blur; ``evaluate.baseline_fills``). Unlearning the forget classes should
bring their fills down toward the grey and blur levels and leave the retain fills where they were: the
classifier analog of SalUn's unlearning accuracy, read off the fills the FID rows score. Useful over a
base model whose fills are recognised above the blur to begin with (profile ``fashion``). Reuses the
finished unlearning runs in ``runs/<profile>/`` and the evaluation cache; a missing run is trained first,
as ``03_unlearn_vqgan`` would.

    python scripts/mage_recognised_fills.py [--profile fashion] [--seed 0]
    # -> results/<profile>/mage_recognised_fills.json
"""
import argparse

import torch

from l2l_utils.evaluate import baseline_fills, judged_accuracy
from l2l_utils.experiment import checkpoint_provenance, run_metadata, write_results
from l2l_utils.masks import make_mask
from l2l_utils.profiles import get_profile
from l2l_utils.study import Study, table_models


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="fashion")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = get_profile(args.profile)
    study = Study(cfg, "mage", args.seed, proxy=bool(cfg["proxy"]))
    judge, metrics = study.classifier, {}
    for task in study.tasks:
        for subset, test in study.test_sets.items():
            blind = baseline_fills(test.images, make_mask(task, len(test), study.base.image_size))
            for name, images in {"whole": test.images, "grey": blind["grey"], "blur": blind["mean_fill"]}.items():
                metrics[f"{name}/{task}/{subset}/recognised"] = judged_accuracy(judge, images, test.labels)
    for label, model in table_models(study).items():
        images = study.evaluate(model)[1]  # the original's is read back from the evaluation cache
        for task in study.tasks:
            for subset, test in study.test_sets.items():
                metrics[f"{label}/{task}/{subset}/recognised"] = judged_accuracy(judge, images[(task, subset)],
                                                                                 test.labels)
        print(label, {k.split("/", 1)[1]: round(v, 3) for k, v in metrics.items() if k.startswith(f"{label}/")})
    meta = {**run_metadata(cfg, args.seed, "mage"), "family": "mage", "tasks": study.tasks, "threads": args.threads,
            "judge": checkpoint_provenance(cfg["is_classifier"]),
            "what": "fraction of each model's fills (and of the whole images, the grey hole and the blur) "
                    "that the profile's IS classifier puts in the image's class, per task and test set"}
    print(write_results(cfg, "mage_recognised_fills", metrics, meta))


if __name__ == "__main__":
    main()
