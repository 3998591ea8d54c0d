"""Pre-training of the tiny Palette (conditional DDPM) base model the embedded profile ships.

Palette (Saharia et al. 2022; Janspiry/Palette, the base of the i2i code) trains the noise
predictor on the **train** schedule (Places2: linear beta 1e-6 -> 0.01, 2,000 steps) with a
continuous noise level gamma ~ U[G[t-1], G[t]], and samples on the **test** schedule that the
checkpoint stores. We do the same on the embedded clip-art with the masks it is evaluated on, plus
random patch masks (Palette's own masks are free-form strokes and boxes).
"""
from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from l2l_utils.data import ImageDataset
from l2l_utils.masks import make_mask
from l2l_utils.models.palette import PaletteGenerator, build_network
from l2l_utils.pretrain import LossCurve, augment, cosine_lr, train_step

PALETTE_TASKS = ("center_0.25", "center_0.5", "outpaint_0.5", "random_0.5")


def pretrain_palette(train: ImageDataset, config: str = "tiny", steps: int = 4000, batch_size: int = 32,
                     lr: float = 2e-4, warmup: int = 200, seed: int = 0, tasks=PALETTE_TASKS,
                     patch: int = 8, log_every: int = 50, init: PaletteGenerator | None = None
                     ) -> tuple[PaletteGenerator, dict]:
    """``init``: continue from these weights (a new optimiser and learning-rate schedule)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = (init or PaletteGenerator(build_network(config))).train()
    model.network.set_new_noise_schedule("train")
    opt = torch.optim.Adam(model.parameters(), lr=lr)  # Palette's optimiser (Adam, no weight decay)
    size = model.image_size
    curve, start = LossCurve(log_every), time.time()
    for step in tqdm(range(steps), desc="pretrain Palette"):
        x = augment(train.images[torch.randint(len(train), (batch_size,), generator=g)], g)
        task = tasks[int(torch.randint(len(tasks), (1,), generator=g))]
        loss = model.generative_loss(x, make_mask(task, batch_size, size, patch, g), generator=g)
        curve.add(step, train_step(opt, loss, cosine_lr(step, steps, warmup, lr), step, "Palette"))
    model.network.set_new_noise_schedule("test")  # the checkpoint carries the sampling schedule
    meta = {"config": config, "steps": steps, "batch_size": batch_size, "lr": lr, "warmup": warmup, "seed": seed,
            "tasks": list(tasks), "train_images": len(train), "train_seconds": round(time.time() - start, 1),
            "loss_curve": curve.points}
    return model.eval(), meta
