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


class UnlearnObjective(nn.Module):
    """retain term + alpha * forget term (``forget_sign`` -1: gradient ascent), as one module so that
    DDP can wrap it. ``retain_weight`` 0 drops the retain term (no retain data at all). Every method of ``l2l_utils.unlearn.baselines.METHODS`` is one of these.

    A subclass defines ``terms(x_retain, x_forget, mask, generator)`` -> (retain term, forget term),
    each computed on its own samples only, and ``trains``: "encoder" (the decoder stays the original,
    h = D_0 o E) or "full" (protocol §4 table, column "Trained").
    """
    trains = "encoder"
    forget_sign = 1.0

    def __init__(self, student: nn.Module, teacher: nn.Module, alpha: float, retain_weight: float = 1.0):
        super().__init__()
        if alpha < 0 or retain_weight < 0:
            raise ValueError(f"alpha and retain_weight must be >= 0, got {alpha}, {retain_weight}")
        self.student, self.alpha, self.retain_weight = student, alpha, retain_weight
        self.teacher = [teacher]  # a list keeps the frozen copy out of parameters() and DDP

    def draws(self, x_retain, x_forget, generator):
        """One draw per group, shared by teacher and student (diffusion: noise level and noise; the
        targets only make sense when both see the same); None for deterministic families."""
        return self.student.draw(x_retain, generator), self.student.draw(x_forget, generator)

    def terms(self, x_retain, x_forget, mask, generator):
        raise NotImplementedError

    def forward(self, x_retain, x_forget, mask, generator):
        loss_r, loss_f = self.terms(x_retain, x_forget, mask, generator)
        loss = self.retain_weight * loss_r + self.forget_sign * self.alpha * loss_f
        return loss, {"retain": loss_r.detach(), "forget": loss_f.detach()}


class OursObjective(UnlearnObjective):
    """Li et al. (2024): embeddings of retain images stay the original's, embeddings of forget images
    go to the original's embedding of noise, E_0(T n). Encoder only (protocol §3).

    For diffusion the teacher's forget input keeps the forget image in the condition and the known
    region and puts the shared draw's pure noise in the hole (the released code; decision 10), see
    ``PaletteGenerator.noise_embedding``.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, alpha: float, noise_type: str = "normal",
                 retain_weight: float = 1.0):
        super().__init__(student, teacher, alpha, retain_weight)
        if noise_type not in NOISE_TYPES:
            raise ValueError(f"unknown noise type {noise_type!r}; choose from {NOISE_TYPES}")
        self.noise_type = noise_type

    def terms(self, x_retain, x_forget, mask, generator):
        """(retain term, forget term), each computed on its own samples only."""
        teacher, student = self.teacher[0], self.student
        d_r, d_f = self.draws(x_retain, x_forget, generator)
        with torch.no_grad():
            target_r = teacher.embed(x_retain, mask, d_r)
            noise = make_noise(x_forget, self.noise_type, generator)
            target_f = teacher.noise_embedding(x_forget, noise, mask, d_f)
        return (embedding_mse(student.embed(x_retain, mask, d_r), target_r),
                embedding_mse(student.embed(x_forget, mask, d_f), target_f))
