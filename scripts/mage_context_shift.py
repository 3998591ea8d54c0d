"""How much filling the hole changes the tokens MAGE sees around it, and what that costs the transformer.

Inpainting tokenizes the image with its hole filled (``MAGEGenerator.context_tokens``); the tiny
tokenizer's receptive field and GroupNorm span the whole image, so the visible tokens change too. This
prints and writes (``results/pretraining/mage_context_shift.json``) the fraction of visible tokens the
fill changes (all, and the four corner tokens) and the transformer's hole-token NLL
(``hole_token_nll``) from the filled image's tokens against the whole image's (the latter leaks the hole
through the tokenizer: a diagnosis, not a score).

    python scripts/mage_context_shift.py [--checkpoint checkpoints/mage_tiny_clipart.pt]
"""
import argparse
import json
import os

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import load_clipart
from l2l_utils.masks import make_mask
from l2l_utils.models.mage import load_mage_checkpoint
from l2l_utils.pretrain_mage import hole_token_log_frequencies, hole_token_nll


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(PROJECT_ROOT / "checkpoints" / "mage_tiny_clipart.pt"))
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--task", default="center_0.5")
    ap.add_argument("--out", default=str(PROJECT_ROOT / "results" / "pretraining" / "mage_context_shift.json"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = load_mage_checkpoint(args.checkpoint, args.config).eval()
    train, test = load_clipart("train"), load_clipart("test")
    mask = make_mask(args.task, 1, gen.image_size)
    visible = ~gen.token_mask(mask, 1)[0]
    with torch.no_grad():
        changed = gen.mage.tokenize(test.images) != gen.context_tokens(test.images, mask)
    g = gen.mage.grid
    corners = torch.tensor([0, g - 1, g * (g - 1), g * g - 1])
    log_frequencies = hole_token_log_frequencies(gen, train, args.task)
    filled = hole_token_nll(gen, test, log_frequencies, args.task)
    gen.context_tokens = lambda x, m: gen.mage.tokenize(x)  # the whole image's tokens, as pre-training saw them
    whole = hole_token_nll(gen, test, log_frequencies, args.task)
    out = {"checkpoint": os.path.relpath(args.checkpoint, PROJECT_ROOT), "task": args.task, "test_images": len(test),
           "visible_tokens_changed": changed[:, visible].float().mean().item(),
           "corner_tokens_changed": changed[:, corners].float().mean().item(),
           "nll_filled_context": filled, "nll_whole_image_context": whole,
           "torch": torch.__version__, "threads": args.threads}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
