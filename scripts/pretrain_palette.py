"""Pre-train the tiny Palette base model on the embedded clip-art.

    python scripts/pretrain_palette.py   # -> checkpoints/palette_tiny_clipart.pt, .md, _samples.png
"""
import argparse
import platform

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import load_clipart
from l2l_utils.evaluate import baseline_hole_mse, generate, hole_mse
from l2l_utils.io import atomic_torch_save, read_json, write_json
from l2l_utils.models.palette import build_network, load_palette_checkpoint
from l2l_utils.pretrain_palette import pretrain_palette

CARD = """# Model card: `palette_tiny_clipart.pt`

A tiny Palette (Saharia et al. 2022; conditional DDPM for inpainting, guided-diffusion UNet),
pre-trained by this project so that the `embedded` and `smoke` profiles of the diffusion family run
offline. It stands in for the public Places2 `16_Network.pth` of the `places` profile; it is **not**
that model and its numbers are not the paper's. Flat `Network` state dict (the public layout: the
UNet under `denoise_fn.` and the six test-schedule buffers).

**Why clip-art plays the scenes.** The shipped data are clip-art (12 classes, colour, 64 px) and
Fashion-MNIST (grey, 28 px, centred objects on black). Clip-art is the one with colour, backgrounds
and layouts for a hole to be filled *from its surroundings*, which is what Places2 inpainting asks;
Fashion-MNIST holes would be filled from a black frame. **Why 32 px.** Sampling calls the UNet once
per step; one forward of the 64 px `tiny` UNet over 240 images took 25 s on this 2-core CPU (1 thread,
another job running), of the 32 px `tiny32` one 4.8 s: evaluating two models on 480 test images at
64 px would take most of an hour.

| field | value |
| --- | --- |
| architecture | `l2l_utils.models.palette` config `{config}`: {params:,} parameters, {image_size} px |
| data | `data/clipart64.npz` train split, area-downsampled to {image_size} px: {train_images} images, all 12 classes |
| objective | Palette's masked noise-prediction MSE, Places2 **train** schedule (linear 1e-6 -> 0.01, 2,000 steps), masks per step from {tasks} |
| sampling schedule stored | Places2 **test** schedule (linear 1e-4 -> 0.09, 2,000 steps) |
| augmentation | horizontal flip, translation by up to 4 px |
| optimiser | Adam, {warmup} warm-up steps, cosine decay per stage; no EMA |
| steps x batch, lr | {stages} |
| seed | {seed} |
| training time | {total_seconds} s on {machine} (torch {torch}) |
| held-out centre-hole (r = 1/2) MSE, {sample_steps} respaced sampling steps, seed 0, test split ({test_images} images) | {hole_mse_model:.4f} (mean visible colour, a blur: {hole_mse_mean_fill:.4f}; another test image's hole, real but context-blind: {hole_mse_other_image:.4f}) |

Samples: `palette_tiny_clipart_samples.png`. Rebuild (two stages: the first alone with 2 threads, the
second with 1 thread while another job ran; the thread count changes float summation order):
`python scripts/pretrain_palette.py && python scripts/pretrain_palette.py --threads 1
--resume-from checkpoints/palette_tiny_clipart.pt --steps 4000 --lr 5e-4`.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="tiny32")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--sample-steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(PROJECT_ROOT / "checkpoints" / "palette_tiny_clipart.pt"))
    ap.add_argument("--evaluate-only", action="store_true", help="re-evaluate --out and rewrite its card")
    ap.add_argument("--resume-from", help="continue training these weights (a second stage, new lr schedule)")
    ap.add_argument("--lr", type=float, default=2e-4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    size = build_network(args.config).denoise_fn.image_size
    train, test = load_clipart("train", size), load_clipart("test", size)
    meta_path = args.out.replace(".pt", "_meta.json")  # the checkpoint stays a flat state dict (public layout)
    if args.evaluate_only:
        model, meta = load_palette_checkpoint(args.out, args.config), read_json(meta_path)
    else:
        init = load_palette_checkpoint(args.resume_from, args.config) if args.resume_from else None
        model, meta = pretrain_palette(train, args.config, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                       seed=args.seed, init=init)
        if init is not None:  # the card describes both stages
            meta["first_stage"] = read_json(args.resume_from.replace(".pt", "_meta.json"))
        atomic_torch_save(model.network.state_dict(), args.out)

    model.sample_steps = args.sample_steps
    out, masks = generate(model, test.images, "center_0.5", batch_size=240, seed=0)
    meta.update(params=sum(p.numel() for p in model.parameters()), test_images=len(test), image_size=size,
                sample_steps=args.sample_steps, hole_mse_model=hole_mse(out, test.images, masks),
                **baseline_hole_mse(test.images, masks))
    if not args.evaluate_only:
        meta.update(machine=platform.processor() or platform.machine(), torch=torch.__version__,
                    threads=torch.get_num_threads())
    write_json(meta, meta_path)
    stages = [meta.get("first_stage"), meta]
    stages = [st for st in stages if st]
    card = {**meta, "total_seconds": round(sum(st["train_seconds"] for st in stages)),
            "stages": ", then ".join(f"{st['steps']} x {st['batch_size']}, lr {st['lr']}" for st in stages)}
    with open(args.out.replace(".pt", ".md"), "w") as f:
        f.write(CARD.format(**card))

    import matplotlib
    matplotlib.use("Agg")
    from l2l_utils.masks import apply_mask
    from l2l_utils.plots import image_grid
    pick = torch.arange(0, len(test), len(test) // 10)[:10]
    x = test.images[pick]
    fig = image_grid({"input": apply_mask(x, masks[pick], 0.5), "Palette fill": out[pick], "ground truth": x}, n=10,
                     title=f"tiny Palette on held-out clip-art, centre hole r=1/2, {args.sample_steps} steps, seed 0")
    fig.savefig(args.out.replace(".pt", "_samples.png"), dpi=110, bbox_inches="tight", metadata={"Software": None})
    print({k: meta[k] for k in ("hole_mse_model", "hole_mse_mean_fill", "hole_mse_other_image", "train_seconds")})


if __name__ == "__main__":
    main()
