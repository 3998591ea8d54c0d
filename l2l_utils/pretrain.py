"""Pre-training of the small base generators that the embedded profile ships.

The paper starts from public checkpoints pre-trained on ImageNet / Places; offline we pre-train a
tiny model of the same family on the embedded clip-art (all classes, forget ones included, as the
public checkpoints saw every ImageNet class) and commit it with a model card.
"""
from __future__ import annotations

import math
import time

import torch
from tqdm.auto import tqdm

from l2l_utils.data import ImageDataset
from l2l_utils.masks import center_hole, make_mask
from l2l_utils.models.mae import MAEGenerator, build_mae

# Each step draws one of these partial views for the whole batch: MAE's random patches plus the
# inpainting/outpainting views the generator is evaluated on.
PRETRAIN_TASKS = ("random_0.75", "random_0.5", "center_0.25", "center_0.5", "outpaint_0.5")


def augment(x: torch.Tensor, generator: torch.Generator, max_shift: int = 4) -> torch.Tensor:
    """Random horizontal flip and a small translation (padding with white, the clip-art background)."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    dx, dy = (torch.randint(-max_shift, max_shift + 1, (2,), generator=generator)).tolist()
    padded = torch.nn.functional.pad(x, (max_shift,) * 4, value=1.0)
    size = x.shape[-1]
    return padded[..., max_shift + dy:max_shift + dy + size, max_shift + dx:max_shift + dx + size]


def cosine_lr(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_step(opt: torch.optim.Optimizer, loss: torch.Tensor, lr: float, step: int, what: str,
               grad_clip: float | None = None) -> float:
    """One optimiser step at learning rate ``lr``, the gradient norm clipped at ``grad_clip`` when given; a
    non-finite loss stops the run before any weight moves."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"non-finite {what} pre-training loss at step {step}")
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_([p for group in opt.param_groups for p in group["params"]], grad_clip)
    opt.step()
    return loss.item()


class LossCurve:
    """The mean loss of every ``every`` steps, as [{"step", "loss"}] for the model cards."""

    def __init__(self, every: int):
        self.every, self.points, self._sum = every, [], 0.0

    def add(self, step: int, loss: float) -> None:
        self._sum += loss
        if (step + 1) % self.every == 0:
            self.points.append({"step": step + 1, "loss": self._sum / self.every})
            self._sum = 0.0


@torch.no_grad()
def hole_mse(model: MAEGenerator, data: ImageDataset, ratio: float = 0.5, batch_size: int = 256) -> dict:
    """Mean squared error in [0,1] pixels inside a centre hole, for the model and for filling the
    hole with the per-image mean of the visible pixels (a floor any generator should beat)."""
    mask = center_hole(model.image_size, ratio)
    se_model = se_fill = 0.0
    for i in range(0, len(data), batch_size):
        x = data.images[i:i + batch_size]
        out = model.inpaint(x, mask)
        fill = (x * (1 - mask)).sum((2, 3), keepdim=True) / (1 - mask).sum()
        se_model += (((out - x) * mask) ** 2).sum().item()
        se_fill += (((fill - x) * mask) ** 2).sum().item()
    n = len(data) * 3 * mask.sum().item()
    return {"hole_mse_model": se_model / n, "hole_mse_mean_fill": se_fill / n, "center_ratio": ratio}


def pretrain_mae(train: ImageDataset, config: str = "tiny", steps: int = 3000, batch_size: int = 64,
                 lr: float = 1e-3, weight_decay: float = 0.05, warmup: int = 200, seed: int = 0,
                 tasks=PRETRAIN_TASKS, log_every: int = 50) -> tuple[MAEGenerator, dict]:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # timm/torch init draws from the global generator
    model = MAEGenerator(build_mae(config)).train()
    size, patch = model.image_size, model.patch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    curve, start = LossCurve(log_every), time.time()
    for step in tqdm(range(steps), desc="pretrain MAE"):
        idx = torch.randint(len(train), (batch_size,), generator=g)
        x = augment(train.images[idx], g)
        task = tasks[int(torch.randint(len(tasks), (1,), generator=g))]
        loss = model.generative_loss(x, make_mask(task, batch_size, size, patch, g))
        curve.add(step, train_step(opt, loss, cosine_lr(step, steps, warmup, lr), step, "MAE"))
    meta = {"config": config, "steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
            "warmup": warmup, "seed": seed, "tasks": list(tasks), "train_images": len(train),
            "train_seconds": round(time.time() - start, 1), "loss_curve": curve.points}
    return model.eval(), meta
