"""Positive control: does the tiny MAGE's recipe inpaint recognisably where the data allow it?

Over the clip-art the tiny MAGE fills holes with the context's colours, not objects (docs/mage_tiny.md).
This runs the same code and recipe (tokenizer ``pretrain_vqgan`` config ``tiny``, then the token
transformer ``pretrain_mage`` with the filled context, from the reference's initial scales or with
``--scaled-init``) on Fashion-MNIST drawn as the clip-art is (``data.load_fashion_mnist64``: ten regular
classes, dark on white, 64 px), and scores it as the clip-art cards do: centre-hole MSE against the
blur and the true tokens, the hole-token NLL against the positions' frequencies, and how often a
classifier of the same data (the judge) puts a filled test image in its class. Fills better than the
blur here, where over the clip-art they are level with it, say the code path learns from the context;
fills at the blur's level here too would point at the code. The reading: docs/mage_tiny.md, "A positive
control".
Writes ``results/pretraining/mage_positive_control.json`` and ``figures/pretraining/mage_positive_control.png``.

    python scripts/train_is_classifier.py --data fashion_mnist64 --purpose judge --epochs 3 --out J.pt
    python scripts/mage_positive_control.py --judge J.pt [--train-images 8000] [--mage-steps 3000]
"""
import argparse
import json
import os
import time

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import load_fashion_mnist64
from l2l_utils.evaluate import baseline_hole_mse, generate, hole_mse, judged_accuracy, recognisability
from l2l_utils.io import atomic_torch_save, write_json
from l2l_utils.masks import apply_mask
from l2l_utils.metrics import load_is_classifier
from l2l_utils.models.mage import load_mage_checkpoint
from l2l_utils.pretrain_mage import (EVAL_TASKS, hole_token_log_frequencies, hole_token_nll, pretrain_mage,
                                    pretrain_vqgan, reconstruction_quality, tokenize_all)


def seeded_subset(data, n: int, g: torch.Generator):
    return data.subset(torch.randperm(len(data), generator=g)[:n].sort().values, f"{data.name}[{n}]")


def score_task(gen, judge, train, train_ids, test, task: str) -> tuple[dict, dict]:
    """The card's measures of one view on ``test`` (seed 0), and the images for the grid. ``train_ids``:
    the training images' tokens, for the positions' frequencies."""
    filled, masks = generate(gen, test.images, task, batch_size=256, seed=0)
    true = gen.true_token_fill(test.images, masks)
    frequencies = hole_token_log_frequencies(gen, train, task, train_ids)
    scores = {"hole_mse_mage": hole_mse(filled, test.images, masks),
              "hole_mse_true_tokens": hole_mse(true, test.images, masks),
              "hole_mse_mean_fill": baseline_hole_mse(test.images, masks)["hole_mse_mean_fill"],
              "token_nll": hole_token_nll(gen, test, frequencies, task),
              "recognised": {**recognisability(judge, test, filled, masks),
                             "true_tokens": judged_accuracy(judge, true, test.labels)}}
    return scores, {"input": apply_mask(test.images, masks, 0.5), "MAGE fill": filled, "true tokens": true}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judge", required=True, help="a classifier of load_fashion_mnist64's classes")
    ap.add_argument("--train-images", type=int, default=8000, help="a seeded subset of the 20,000 (tokenizing costs)")
    ap.add_argument("--test-images", type=int, default=1000)
    ap.add_argument("--vq-steps", type=int, default=1000)
    ap.add_argument("--mage-steps", type=int, default=3000)
    ap.add_argument("--scaled-init", action="store_true",
                    help="start the transformer from models.mage.SCALED_INIT; default: the reference's scales")
    ap.add_argument("--tokenizer-of", help="an earlier run's --checkpoint: reuse its tokenizer, train none")
    ap.add_argument("--resume", help="an earlier run's --checkpoint: train its transformer --mage-steps more "
                                     "steps (a new optimiser and schedule) over its tokenizer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint", help="where to save the trained model (not shipped); default: not saved")
    ap.add_argument("--out", default=str(PROJECT_ROOT / "results" / "pretraining" / "mage_positive_control.json"))
    ap.add_argument("--figure", default=str(PROJECT_ROOT / "figures" / "pretraining" / "mage_positive_control.png"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    judge = load_is_classifier(args.judge)
    g = torch.Generator().manual_seed(args.seed)
    train = seeded_subset(load_fashion_mnist64("train"), args.train_images, g)
    test = seeded_subset(load_fashion_mnist64("test"), args.test_images, g)
    if len(judge.class_names) != len(test.class_names):  # e.g. the clip-art's judge: its verdicts would mean nothing
        raise SystemExit(f"--judge {args.judge} has {len(judge.class_names)} classes, the data "
                         f"{len(test.class_names)}: train one with scripts/train_is_classifier.py "
                         "--data fashion_mnist64 --purpose judge")
    if args.resume and (args.tokenizer_of or args.scaled_init):
        raise SystemExit("--resume continues a saved model: its tokenizer and initial scales are its own")
    start = time.time()
    saved_path = args.tokenizer_of or args.resume
    if saved_path:
        saved, saved_meta = load_mage_checkpoint(saved_path, "tiny"), torch.load(saved_path, weights_only=True)["meta"]
        vq = saved.mage.vqgan
        vq_meta = saved_meta["vqgan"] | ({"reused_from": args.tokenizer_of} if args.tokenizer_of else {})
    else:
        vq, vq_meta = pretrain_vqgan(train, "tiny", steps=args.vq_steps, seed=args.seed)
    gen, mage_meta = pretrain_mage(train, vq, "tiny", steps=args.mage_steps, seed=args.seed, filled_context=True,
                                   held_out=test, held_out_every=1000, scaled_init=args.scaled_init,
                                   init=saved if args.resume else None)
    # the stage chain, as scripts/pretrain_mage.py --resume records it
    earlier = saved_meta["mage"].pop("earlier_stages", []) + [saved_meta["mage"]] if args.resume else []
    mage_meta["earlier_stages"] = earlier
    stages = earlier + [mage_meta]
    if args.checkpoint:
        atomic_torch_save({"model": gen.mage.state_dict(), "config": "tiny",
                           "meta": {"vqgan": vq_meta, "mage": mage_meta}}, args.checkpoint)
    results, rows = {}, {}
    train_ids = tokenize_all(gen.mage.tokenize, train.images)
    for task in EVAL_TASKS:
        results[task], images = score_task(gen.eval(), judge, train, train_ids, test, task)
        rows.update({f"{task}: {k}": v for k, v in images.items()})
        print(task, json.dumps(results[task]), flush=True)
    with torch.no_grad():
        recon = gen.decode_tokens(gen.mage.tokenize(test.images))
    out = {"what": __doc__.split("\n\n")[1].replace("\n", " "), "data": test.name.split("/")[0],
           "train_images": len(train), "test_images": len(test), "results": results,
           "tokenizer_reconstruction": {k: v for k, v in reconstruction_quality(vq, test).items()
                                        if k != "colour_kept"},  # grey images: no colour to keep (0 / 0)
           "judge": {**judge.meta, "recognises_whole_images": judged_accuracy(judge, test.images, test.labels),
                     "recognises_tokenizer_reconstructions": judged_accuracy(judge, recon, test.labels)},
           "vqgan_meta": vq_meta, "mage_meta": mage_meta, "seconds": round(time.time() - start, 1),
           "torch": torch.__version__, "threads": args.threads, "device": "cpu"}
    write_json(out, args.out)

    import matplotlib
    matplotlib.use("Agg")
    from l2l_utils.plots import image_grid
    pick = torch.stack([(test.labels == c).nonzero()[0, 0] for c in test.labels.unique()])  # one image a class
    grid = {name: images[pick] for name, images in rows.items() if "input" in name or "MAGE" in name}
    grid.update({"centre r=1/2: true tokens": rows["center_0.5: true tokens"][pick], "ground truth": test.images[pick]})
    init = "scaled init" if stages[0]["scaled_init"] else "reference init"
    fig = image_grid(grid, n=len(pick), title=f"tiny MAGE trained on Fashion-MNIST (positive control; {init}, "
                                              f"{sum(st['steps'] for st in stages):,} steps), "
                                              f"held-out images, seed {args.seed}")
    os.makedirs(os.path.dirname(args.figure), exist_ok=True)
    fig.savefig(args.figure, dpi=110, bbox_inches="tight", metadata={"Software": None})
    print(f"wrote {args.out} and {args.figure}")


if __name__ == "__main__":
    main()
