"""Can the tiny MAGE pipeline fill a hole with the object when it has seen the image?

A sanity check of the inpainting path (filled context, token margin, MaskGIT decoding) apart from
generalisation: a fresh ``tiny`` transformer is trained (``pretrain_mage``, ``--filled-context``, the
card's recipe otherwise) over the shipped tokenizer on ``--images`` training images only, long enough
to learn them by heart, and then fills the centre r = 1/2 hole of those same images and of as many test
images. On the seen images the fills should approach the hole's true tokens (a perfect transformer).
If they do not, the hole-token NLL on them tells why: low, the decoding path loses what the transformer
knows; high, the transformer has not learnt them. The gap between the two sets is
what the shipped model's ~3,000 images would have to close by generalising.
Writes ``results/pretraining/mage_memorisation.json`` and ``figures/pretraining/mage_memorisation.png``.

    python scripts/mage_memorisation_check.py [--images 128] [--steps 1500]
"""
import argparse
import json
import os
import time

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import load_clipart
from l2l_utils.evaluate import baseline_hole_mse, generate, hole_mse
from l2l_utils.masks import apply_mask
from l2l_utils.models.mage import load_mage_checkpoint
from l2l_utils.pretrain_mage import hole_token_log_frequencies, hole_token_nll, pretrain_mage

TASK = "center_0.5"


def fill_scores(gen, images, log_frequencies) -> tuple[dict, dict]:
    """Hole MSE of the MAGE fill, of the true tokens and of the blur, and the hole-token NLL, on ``images``
    (seed 0); and the filled images for the grid."""
    filled, masks = generate(gen, images.images, TASK, batch_size=256, seed=0)
    true = gen.true_token_fill(images.images, masks)
    scores = {"hole_mse_mage": hole_mse(filled, images.images, masks),
              "hole_mse_true_tokens": hole_mse(true, images.images, masks),
              "hole_mse_mean_fill": baseline_hole_mse(images.images, masks)["hole_mse_mean_fill"],
              **hole_token_nll(gen, images, log_frequencies, TASK)}
    return scores, {"input": apply_mask(images.images, masks, 0.5), "MAGE fill": filled, "true tokens": true,
                    "ground truth": images.images}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(PROJECT_ROOT / "checkpoints" / "mage_tiny_clipart.pt"),
                    help="whose tokenizer the new transformer learns over")
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference-optimiser", action="store_true",
                    help="MAGE main_pretrain.py's optimiser details (see pretrain_mage); default: the shipped recipe")
    ap.add_argument("--scaled-init", action="store_true",
                    help="start the transformer from models.mage.SCALED_INIT; default: the reference's scales")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(PROJECT_ROOT / "results" / "pretraining" / "mage_memorisation.json"))
    ap.add_argument("--figure", default=str(PROJECT_ROOT / "figures" / "pretraining" / "mage_memorisation.png"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load_clipart("train"), load_clipart("test")
    g = torch.Generator().manual_seed(args.seed)
    seen = train.subset(torch.randperm(len(train), generator=g)[:args.images].sort().values, "seen")
    unseen = test.subset(torch.randperm(len(test), generator=g)[:args.images].sort().values, "unseen")
    tokenizer = load_mage_checkpoint(args.checkpoint, "tiny").mage.vqgan
    start = time.time()
    gen, meta = pretrain_mage(seen, tokenizer, "tiny", steps=args.steps, seed=args.seed, filled_context=True,
                              reference_optimiser=args.reference_optimiser, scaled_init=args.scaled_init)
    log_frequencies = hole_token_log_frequencies(gen, seen, TASK)
    results, rows = {}, {}
    for name, images in (("seen", seen), ("unseen", unseen)):
        results[name], filled = fill_scores(gen.eval(), images, log_frequencies)
        rows.update({f"{name}: {k}": v[:8] for k, v in filled.items()})
        print(name, json.dumps(results[name]), flush=True)
    last_loss = meta.pop("loss_curve")[-1]
    out = {"what": __doc__.split("\n\n")[1].replace("\n", " "), "task": TASK, "images": args.images,
           "tokenizer_of": os.path.relpath(args.checkpoint, PROJECT_ROOT), "results": results,
           "last_logged_train_loss": last_loss, "meta": meta, "seconds": round(time.time() - start, 1),
           "torch": torch.__version__, "threads": args.threads, "device": "cpu"}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)

    import matplotlib
    matplotlib.use("Agg")
    from l2l_utils.plots import image_grid
    os.makedirs(os.path.dirname(args.figure), exist_ok=True)
    recipe = ((", reference optimiser" if args.reference_optimiser else "")
              + (", scaled init" if args.scaled_init else ""))
    image_grid(rows, n=8, title=f"a tiny MAGE trained on {args.images} images only ({args.steps} steps{recipe}): "
                                f"centre hole r=1/2 of those images and of test images, seed {args.seed}"
               ).savefig(args.figure, dpi=100, bbox_inches="tight", metadata={"Software": None})


if __name__ == "__main__":
    main()
