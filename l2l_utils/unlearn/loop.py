"""The unlearning loop: any method of ``baselines.METHODS``, optional SalUn weight saliency,
checkpoint/resume, non-finite guard, DDP-ready.

Defaults follow the released MAGE unlearning code (Li et al. 2024; protocol reference Sec. 5.1):
AdamW (0.9, 0.95), weight decay 0.05 (none on biases and norms), lr = blr * global_batch / 256,
linear warm-up over 5/6 of the run then half-cosine to 0 (their 6 epochs with 5 warm-up), gradient
clipping at 3.0, a balanced 1:1 forget/retain batch. Under ``torchrun`` the objective is wrapped in
DistributedDataParallel: every rank draws the same global batch (images, augmentation, masks) from
the run's seeded stream and trains on its own slice, so N ranks with ``batch_size`` B follow the
trajectory of one process with batch N*B; the objective's own draws (noise images, diffusion noise)
come from a per-rank stream (seed + 1000 * rank). With one process both are the one stream.

Each method trains what the protocol's table says (§4): OURS and RANDOM ENCODER the encoder (the
decoder is frozen), MAX LOSS, NOISY LABEL and RETAIN LABEL the full model. With ``saliency`` set,
SalUn's mask (Fan et al., ICLR 2024; SalUn protocol §1) restricts training to the top fraction of the
trained weights by the magnitude of the method's forget-term gradient at the original weights; the
others never move, not even through AdamW's weight decay or moments (SalUn decision 1).
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from l2l_utils.data import ImageDataset
from l2l_utils.io import atomic_torch_save, fingerprint
from l2l_utils.masks import make_mask
from l2l_utils.pretrain import augment
from l2l_utils.unlearn.baselines import METHODS, build_objective
from l2l_utils.unlearn.saliency import MaskedUpdate, forget_gradients, topk_mask


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN/Inf; the last good checkpoint is left untouched."""


@dataclass
class UnlearnConfig:
    method: str = "ours"
    alpha: float = 0.2                 # protocol decision 5: VQ-GAN/MAE preset
    noise_type: str = "normal"
    steps: int = 300
    batch_size: int = 32               # images per group: each step sees this many forget and retain
    blr: float = 1e-4                  # lr = blr * (2 * batch_size * world_size) / 256
    weight_decay: float = 0.05
    warmup_fraction: float = 5 / 6     # the released code's 5 warm-up epochs of 6
    grad_clip: float = 3.0
    tasks: tuple[str, ...] = ("random_0.5", "center_0.25", "center_0.5", "outpaint_0.5")
    augment: bool = True
    seed: int = 0
    checkpoint_every: int = 100
    saliency: float | None = None      # SalUn top-k ratio of trained weights (0.5 published); None = all

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {sorted(METHODS)}")
        if self.saliency is not None and not 0 < self.saliency <= 1:
            raise ValueError(f"saliency is the kept fraction of weights, in (0, 1]; got {self.saliency}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        self.tasks = tuple(self.tasks)


def lr_at(step: int, cfg: UnlearnConfig, base_lr: float) -> float:
    warmup = int(cfg.steps * cfg.warmup_fraction)
    if step < warmup:
        return base_lr * (step + 1) / warmup
    return base_lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, cfg.steps - warmup)))


def trained_parameters(model: torch.nn.Module, trains: str) -> dict[str, torch.nn.Parameter]:
    """The named parameters a method trains: the encoder's ("encoder") or the encoder's and the
    decoder's ("full"), those that require grad, in the model's order."""
    chosen = list(model.encoder_parameters())
    if trains == "full":
        chosen += list(model.decoder_parameters())
    ids = {id(p) for p in chosen}
    return {n: p for n, p in model.named_parameters() if id(p) in ids and p.requires_grad}


def param_groups(params: dict[str, torch.nn.Parameter], weight_decay: float,
                 named_biases: bool = False) -> list[dict]:
    """No weight decay on biases, norms and tokens (ndim < 2); with ``named_biases`` none on any parameter
    named ``*.bias`` either, as timm's ``add_weight_decay`` (MAGE's (1, 1, vocab) MLM bias). Unlearning
    keeps ndim < 2 alone, the rule its recorded results were made with."""
    exempt = {name for name, p in params.items() if p.ndim < 2 or (named_biases and name.endswith(".bias"))}
    return [{"params": [p for n, p in params.items() if n not in exempt], "weight_decay": weight_decay},
            {"params": [p for n, p in params.items() if n in exempt], "weight_decay": 0.0}]


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def saliency_batches(forget: ImageDataset, retain: ImageDataset, cfg: UnlearnConfig, patch: int, device):
    """One ordered pass over the forget set (no augmentation), each batch with retain images (RETAIN
    LABEL's forget target needs them), a mask and the generator for the objective's own draws.

    The generator is seeded with ``cfg.seed`` alone, apart from the training stream, so the mask is
    the same on every rank and on every resume.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    size = forget.images.shape[-1]
    for i, start in enumerate(range(0, len(forget), cfg.batch_size)):
        x_f = forget.images[start:start + cfg.batch_size]
        x_r = retain.images[torch.arange(start, start + len(x_f)) % len(retain)]
        mask = make_mask(cfg.tasks[i % len(cfg.tasks)], len(x_f), size, patch, g)
        yield x_r.to(device), x_f.to(device), mask.to(device), g


def saliency_mask_for(objective, params: dict, forget: ImageDataset, retain: ImageDataset, cfg: UnlearnConfig,
                      device) -> dict[str, torch.Tensor]:
    """SalUn's mask for any method: global top-``cfg.saliency`` of |grad of the method's forget term|
    summed over the forget set at the current (original) weights (SalUn protocol §1)."""
    patch = getattr(objective.student, "patch_size", 1)
    grads = forget_gradients(params, lambda batch: objective.terms(*batch)[1],
                             saliency_batches(forget, retain, cfg, patch, device))
    return {n: m.bool() for n, m in topk_mask(grads, cfg.saliency).items()}


def unlearn(model, forget: ImageDataset, retain: ImageDataset | None, cfg: UnlearnConfig,
            checkpoint: str | Path | None = None, resume: bool = False, device: str | torch.device = "cpu",
            progress: bool = True):
    """Unlearn ``forget`` from ``model`` (in place) while keeping ``retain``; returns (model, history).

    ``retain`` may be the real retain set, a proxy (other classes) or None: no retain term at all (the
    forget images fill the retain slot of each batch and that term gets weight 0, so the batches and
    the random streams are those of a run with a retain set). With ``checkpoint`` the run is
    saved every ``checkpoint_every`` steps (temp file + rename) and, with ``resume=True``, continued
    from the saved step with the same optimiser, schedule, random streams and saliency mask (stored
    in the checkpoint). ``model`` is always the original model, also when resuming.
    """
    retain_weight = 1.0 if retain is not None else 0.0
    retain = forget if retain is None else retain
    if len(forget) == 0 or len(retain) == 0:
        raise ValueError(f"empty forget ({len(forget)}) or retain ({len(retain)}) set")
    device = torch.device(device)
    rank, world = _rank_world()
    model.to(device)
    teacher = copy.deepcopy(model).eval().requires_grad_(False)
    model.eval()  # no dropout in the student: h_0 is an exact fixed point of the retain term (decision 7)
    objective = build_objective(cfg.method, model, teacher, cfg.alpha, cfg.noise_type, retain_weight)
    if objective.trains == "encoder":
        model.freeze_decoder()
    params = trained_parameters(model, objective.trains)
    base_lr = cfg.blr * 2 * cfg.batch_size * world / 256
    opt = torch.optim.AdamW(param_groups(params, cfg.weight_decay), lr=base_lr, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(cfg.seed)  # the global batch: the same stream on every rank
    g_rank = g if world == 1 else torch.Generator().manual_seed(cfg.seed + 1000 * rank)
    start, history, state = 0, [], None
    ckpt_path = Path(checkpoint) if checkpoint else None
    # what the run started from: the original model's weights and the forget / retain images
    base = fingerprint(teacher.state_dict()) if ckpt_path else None
    data = fingerprint(forget.images, retain.images) if ckpt_path else None
    if resume and ckpt_path and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        saved = {**asdict(UnlearnConfig()), **state["config"]}  # fields added since then: their defaults
        if saved != asdict(cfg):
            raise ValueError(f"{ckpt_path} was written with another config; refuse to resume "
                             f"(saved {saved}, now {asdict(cfg)}). Delete it (or `make clean`) to start afresh.")
        if state.get("base_model", base) != base:  # checkpoints from before this field: not checked
            raise ValueError(f"{ckpt_path} unlearned another base model (weights {state['base_model']}, "
                             f"now {base}); refuse to resume. Delete it (or `make clean`) to start afresh.")
        if state.get("data", data) != data:
            raise ValueError(f"{ckpt_path} was trained on other forget/retain images (data {state['data']}, "
                             f"now {data}); refuse to resume. Delete it (or `make clean`) to start afresh.")
    guard = None
    if cfg.saliency is not None:  # before loading the run's weights: MaskedUpdate keeps the original ones
        mask = state["saliency_mask"] if state else saliency_mask_for(objective, params, forget, retain, cfg, device)
        guard = MaskedUpdate(params, mask)
    if world > 1:  # the full-model methods leave some decoder parameters unused (e.g. MAGE's pixel head)
        objective = torch.nn.parallel.DistributedDataParallel(objective,
                                                              find_unused_parameters=objective.trains == "full")
    if state:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        g.set_state(state["generator"])
        if world > 1:
            g_rank.set_state(state["rank_generators"][rank])
        start, history = state["step"], state["history"]

    def save(step):
        rank_states = None
        if world > 1:
            rank_states = [None] * world
            dist.all_gather_object(rank_states, g_rank.get_state())
        if ckpt_path and rank == 0:
            atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                               "generator": g.get_state(), "rank_generators": rank_states, "history": history,
                               "config": asdict(cfg), "saliency_mask": guard.keep if guard else None,
                               "base_model": base, "data": data}, ckpt_path)

    size, patch = forget.images.shape[-1], getattr(model, "patch_size", 1)
    use_amp = device.type == "cuda"
    for step in tqdm(range(start, cfg.steps), desc=f"unlearn {cfg.method} a={cfg.alpha}",
                     disable=not progress or rank != 0, initial=start, total=cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg, base_lr)
        n = cfg.batch_size * world
        x_f = forget.images[torch.randint(len(forget), (n,), generator=g)]
        x_r = retain.images[torch.randint(len(retain), (n,), generator=g)]
        if cfg.augment:
            x_f, x_r = augment(x_f, g), augment(x_r, g)
        task = cfg.tasks[int(torch.randint(len(cfg.tasks), (1,), generator=g))]
        mask = make_mask(task, n, size, patch, g).expand(n, -1, -1, -1)
        mine = slice(rank * cfg.batch_size, (rank + 1) * cfg.batch_size)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss, parts = objective(x_r[mine].to(device), x_f[mine].to(device), mask[mine].to(device), g_rank)
        if not torch.isfinite(loss):
            where = f"the last good checkpoint {ckpt_path} is kept" if ckpt_path else "no checkpoint was requested"
            raise NonFiniteLossError(f"unlearning loss is {loss.item()} at step {step} (task {task}); {where}. "
                                     "Lower blr or alpha, or check the inputs for NaN.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if guard:
            guard.before_step()  # mask first, so that clipping sees only the salient gradient (SalUn §1)
        torch.nn.utils.clip_grad_norm_(list(params.values()), cfg.grad_clip)
        opt.step()
        if guard:
            guard.after_step(opt)
        logged = torch.stack([loss.detach(), parts["retain"].detach(), parts["forget"].detach()]).float()
        if world > 1:  # record the global batch's values (the mean of the equal-sized slices) on every rank
            dist.all_reduce(logged)
            logged /= world
        history.append({"step": step + 1, **dict(zip(("loss", "retain", "forget"), logged.tolist()))})
        if ckpt_path and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            save(step + 1)
    return model.eval(), history


def load_unlearned(model, checkpoint: str | Path):
    """Load only the weights of an unlearning checkpoint (not its optimiser or step: that is resume) into
    ``model``, a copy of the base model the run started from (refused when the run recorded another)."""
    state, base = torch.load(checkpoint, map_location="cpu", weights_only=True), fingerprint(model.state_dict())
    if state.get("base_model", base) != base:
        raise ValueError(f"{checkpoint} unlearned another base model (weights {state['base_model']}, given {base})")
    model.load_state_dict(state["model"])
    return model.eval()
