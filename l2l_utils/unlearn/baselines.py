"""The four baselines of Li et al. (ICLR 2024), generic over generator families (protocol §4).

| method             | retain term                    | forget term (on forget samples only)          | trains  |
|--------------------|--------------------------------|-----------------------------------------------|---------|
| ``max_loss``       | generative loss                | minus the generative loss (gradient ascent)   | full    |
| ``noisy_label``    | generative loss                | generative loss against noise targets         | full    |
| ``retain_label``   | output MSE to the original's   | output MSE to the original's outputs on the   | full    |
|                    | outputs                        | batch's *retain* images                       |         |
| ``random_encoder`` | embedding MSE to the original's| embedding MSE to Gaussian noise with the mean | encoder |
|                    | embedding                      | and std of the original's batch embeddings    |         |

Generative loss, outputs and targets are the family's own (``I2IGenerator.outputs`` / ``target`` /
``noise_target`` / ``output_loss``): masked-patch MSE for MAE, label-smoothed token CE for MAGE,
masked noise MSE for Palette. Both terms are means over their own group, so
loss = retain + alpha * forget (minus for MAX LOSS) as for OURS (decision 6).

**Deviation from the released VQ-GAN code (protocol §4 "Bug", decision 2).** Its
``engine_baseline.compute_loss`` weights *both* terms by (1 + label) (label +1 retain, -1 forget), so
for RETAIN LABEL and RANDOM ENCODER the "forget" term lands on retain samples and forget samples get no
loss at all. Here every forget term is computed on the forget samples, as the diffusion code does and
as the methods are described; there is no legacy switch, since the buggy variant forgets nothing.
"""
from __future__ import annotations

import torch

from l2l_utils.unlearn.objectives import OursObjective, UnlearnObjective, embedding_mse


def generative_term(model, x, mask, draw, target=None):
    """The family's training loss of ``model`` on x, against ``target`` (default: the true one)."""
    target = model.target(x, mask, draw) if target is None else target
    return model.output_loss(model.outputs(x, mask, draw), target, mask)


class MaxLoss(UnlearnObjective):
    """MAX LOSS: gradient descent on the retain generative loss, ascent on the forget one
    (reference ``max_full_model_loss`` / Palette ``--max_loss 1``). Unbounded by construction
    (protocol §2.1, S3): expect the forget loss to grow without limit."""
    trains = "full"
    forget_sign = -1.0

    def terms(self, x_retain, x_forget, mask, generator):
        d_r, d_f = self.draws(x_retain, x_forget, generator)
        return (generative_term(self.student, x_retain, mask, d_r),
                generative_term(self.student, x_forget, mask, d_f))


class NoisyLabel(UnlearnObjective):
    """NOISY LABEL: the forget samples' training targets are noise in the family's output space
    (reference ``full_model_noise``: noise token ids from the batch's id statistics; MAE: a noise
    image). Not available for Palette (see ``PaletteGenerator.noise_target``)."""
    trains = "full"

    def terms(self, x_retain, x_forget, mask, generator):
        d_r, d_f = self.draws(x_retain, x_forget, generator)
        with torch.no_grad():
            noise = self.student.noise_target(x_forget, mask, generator)
        return (generative_term(self.student, x_retain, mask, d_r),
                generative_term(self.student, x_forget, mask, d_f, target=noise))


def tile(t: torch.Tensor, n: int) -> torch.Tensor:
    """The first n rows of t repeated cyclically (keeps the batch dimension even for one row:
    decision 18)."""
    return t[torch.arange(n, device=t.device) % t.shape[0]]


class RetainLabel(UnlearnObjective):
    """RETAIN LABEL: outputs on retain images stay the original's; outputs on forget images are
    pulled to the original's outputs on the batch's retain images (reference ``learn_others`` /
    Palette ``--learn_others 1``: MSE over the whole output, e.g. all B x 257 x 2025 logits)."""
    trains = "full"

    def terms(self, x_retain, x_forget, mask, generator):
        d_r, d_f = self.draws(x_retain, x_forget, generator)
        with torch.no_grad():
            target_r = self.teacher[0].outputs(x_retain, mask, d_r)
        return (embedding_mse(self.student.outputs(x_retain, mask, d_r), target_r),
                embedding_mse(self.student.outputs(x_forget, mask, d_f), tile(target_r, len(x_forget))))


def batch_gaussian(like, stats, generator: torch.Generator):
    """Gaussian noise shaped like ``like`` with the batch-scalar mean and std of ``stats`` (per
    feature map for the diffusion family's lists, as the reference Palette code)."""
    if isinstance(like, (list, tuple)):
        return [batch_gaussian(a, b, generator) for a, b in zip(like, stats, strict=True)]
    z = torch.randn(like.shape, generator=generator, device=generator.device).to(like.device)
    stats = stats.float()
    return (z * stats.std() + stats.mean()).to(like.dtype)


class RandomEncoder(UnlearnObjective):
    """RANDOM ENCODER: like OURS, but the forget embeddings go to Gaussian noise drawn in embedding
    space, with the mean and std of the original encoder's embeddings of the whole batch (retain and
    forget, reference ``encoder_noise`` / Palette ``--fix_decoder 1 --learn_noise 1``). Encoder only."""

    def terms(self, x_retain, x_forget, mask, generator):
        teacher, student = self.teacher[0], self.student
        d_r, d_f = self.draws(x_retain, x_forget, generator)
        with torch.no_grad():
            target_r = teacher.embed(x_retain, mask, d_r)
            emb_f = teacher.embed(x_forget, mask, d_f)
            both = ([torch.cat(pair) for pair in zip(target_r, emb_f, strict=True)]
                    if isinstance(emb_f, (list, tuple)) else torch.cat([target_r, emb_f]))
            target_f = batch_gaussian(emb_f, both, generator)
        return (embedding_mse(student.embed(x_retain, mask, d_r), target_r),
                embedding_mse(student.embed(x_forget, mask, d_f), target_f))


METHODS = {"ours": OursObjective, "max_loss": MaxLoss, "noisy_label": NoisyLabel, "retain_label": RetainLabel,
           "random_encoder": RandomEncoder}


def build_objective(method: str, student, teacher, alpha: float, noise_type: str = "normal",
                    retain_weight: float = 1.0) -> UnlearnObjective:
    """The objective of ``method``; ``noise_type`` is OURS's noise image (the baselines draw their
    noise in output or embedding space)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}")
    if method == "ours":
        return OursObjective(student, teacher, alpha, noise_type, retain_weight)
    return METHODS[method](student, teacher, alpha, retain_weight)
