"""Pre-train the tiny MAE base model on the embedded clip-art and write its checkpoint + model card.

    python scripts/pretrain_mae.py            # -> checkpoints/mae_tiny_clipart.pt, .md, _loss.png
"""
import argparse
import platform

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import load_clipart
from l2l_utils.io import atomic_torch_save
from l2l_utils.pretrain import hole_mse, pretrain_mae

CARD = """# Model card: `mae_tiny_clipart.pt`

A tiny ViT masked autoencoder (MAE, He et al. 2022), pre-trained by this project so that the
`embedded` and `smoke` profiles run offline. It stands in for the public `mae_visualize_vit_large.pth`
of the `imagenet` profile; it is **not** that model and its numbers are not the paper's.

| field | value |
| --- | --- |
| architecture | `l2l_utils.models.mae` config `{config}`: {params:,} parameters, img 64, patch 8 |
| data | `data/clipart64.npz` train split: {train_images} images, 12 classes (all, forget classes included) |
| objective | MAE masked-patch MSE (ImageNet-normalised pixels), partial views per step drawn from {tasks} |
| augmentation | horizontal flip, translation by up to 4 px |
| optimiser | AdamW (0.9, 0.95), lr {lr}, weight decay {weight_decay}, {warmup} warm-up steps, cosine decay |
| steps x batch | {steps} x {batch_size} |
| seed | {seed} |
| training time | {train_seconds} s on {machine} (torch {torch}, {threads} threads) |
| held-out centre-hole MSE (r = 1/2, [0,1] pixels, test split, {test_images} images) | {hole_mse_model:.4f} (mean-colour fill: {hole_mse_mean_fill:.4f}) |

Loss curve: `mae_tiny_clipart_loss.png`; raw values in the checkpoint's `meta["loss_curve"]`.
Rebuild: `python scripts/pretrain_mae.py` (same seed, same result on the same CPU build).
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(PROJECT_ROOT / "checkpoints" / "mae_tiny_clipart.pt"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, meta = pretrain_mae(load_clipart("train"), steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    test = load_clipart("test")
    meta.update(hole_mse(model, test), test_images=len(test), params=sum(p.numel() for p in model.parameters()),
                machine=platform.processor() or platform.machine(), torch=str(torch.__version__),
                threads=torch.get_num_threads())
    atomic_torch_save({"model": model.mae.state_dict(), "config": meta["config"], "meta": meta}, args.out)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([h["step"] for h in meta["loss_curve"]], [h["loss"] for h in meta["loss_curve"]])
    ax.set(xlabel="step", ylabel="masked-patch MSE", yscale="log", title="tiny MAE pre-training (seed %d)" % args.seed)
    fig.tight_layout()
    fig.savefig(args.out.replace(".pt", "_loss.png"), dpi=120)
    with open(args.out.replace(".pt", ".md"), "w") as f:
        f.write(CARD.format(**meta))
    print({k: meta[k] for k in ("hole_mse_model", "hole_mse_mean_fill", "train_seconds")})


if __name__ == "__main__":
    main()
