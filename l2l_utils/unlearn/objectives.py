"""The unlearning objective of Li et al. (ICLR 2024, Eq. 10 / Fig. 2; released code
``engine_unlearn.py``), generic over generator families.

    L = E_R || E(T x_r) - E_0(T x_r) ||^2  +  alpha * E_F || E(T x_f) - E_0(T n) ||^2

E is the encoder being tuned, E_0 the frozen original, T the partial view (one mask, applied to the
image and to the noise n alike) and n a noise image. Squared L2, averaged over tokens/channels and
then over each subset separately (protocol decision 6), so alpha means the same at any batch mix.
"""
from __future__ import annotations

import torch
from torch import nn

NOISE_TYPES = ("normal", "uniform", "constant")


def make_noise(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Noise images in [0, 1] shaped like ``x`` (released MAGE code, ``--noise_type``).

    normal: N(0,1) * std(x) + mean(x), clipped to [0,1], with batch-scalar mean and std;
    uniform: U[0,1); constant: every pixel the batch mean.
    """
    if kind == "normal":
        z = torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)
        return (z * x.std() + x.mean()).clamp(0, 1)
    if kind == "uniform":
        return torch.rand(x.shape, generator=generator, device=generator.device).to(x.device)
    if kind == "constant":
        return torch.full_like(x, x.mean().item())
    raise ValueError(f"unknown noise type {kind!r}; choose from {NOISE_TYPES}")


def embedding_mse(a, b) -> torch.Tensor:
    """Per-sample mean squared difference, averaged over the batch. Lists (the diffusion family's
    feature maps) contribute the sum over maps, as in the released Palette code."""
    if isinstance(a, (list, tuple)):
        return sum(embedding_mse(x, y) for x, y in zip(a, b, strict=True))
    return ((a.float() - b.float()) ** 2).flatten(1).mean(dim=1).mean()


class OursObjective(nn.Module):
    """Retain term + alpha * forget term, as one module so that DDP can wrap it."""

    def __init__(self, student: nn.Module, teacher: nn.Module, alpha: float, noise_type: str = "normal"):
        super().__init__()
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        if noise_type not in NOISE_TYPES:
            raise ValueError(f"unknown noise type {noise_type!r}; choose from {NOISE_TYPES}")
        self.student, self.alpha, self.noise_type = student, alpha, noise_type
        self.teacher = [teacher]  # a list keeps the frozen copy out of parameters() and DDP

    def terms(self, x_retain, x_forget, mask, generator):
        """(retain term, forget term), each computed on its own samples only."""
        teacher = self.teacher[0]
        with torch.no_grad():
            target_r = teacher.encode(x_retain, mask)
            target_f = teacher.encode(make_noise(x_forget, self.noise_type, generator), mask)
        return (embedding_mse(self.student.encode(x_retain, mask), target_r),
                embedding_mse(self.student.encode(x_forget, mask), target_f))

    def forward(self, x_retain, x_forget, mask, generator):
        loss_r, loss_f = self.terms(x_retain, x_forget, mask, generator)
        return loss_r + self.alpha * loss_f, {"retain": loss_r.detach(), "forget": loss_f.detach()}
