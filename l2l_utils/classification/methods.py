"""Classification unlearning methods behind one interface (protocol §2 "Baselines" and "Code recipe").

``unlearn(name, original, scenario, hp, seed)`` returns a new model and timings; the original is never
modified. Every iterative method uses SGD (momentum 0.9, weight decay 5e-4, protocol §2) with a
constant learning rate (the released code's MultiStepLR never fires within an unlearning run), minibatches
with the training augmentation, and seeded draws only.

Methods: retrain, ft, ga, rl, l1_sparse, iu, bs, be, salun (= rl restricted to the saliency mask).
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from l2l_utils.classification.data import Scenario, batches, load_datasets, make_scenario
from l2l_utils.classification.metrics import evaluate
from l2l_utils.classification.resnet import ResNet18
from l2l_utils.io import atomic_torch_save
from l2l_utils.unlearn.saliency import MaskedUpdate, mask_fraction, saliency_mask

Batches = Callable[[int], Iterator[tuple[Tensor, Tensor]]]


def build_model(settings: dict, num_classes: int) -> ResNet18:
    return ResNet18(num_classes, settings["width"], settings["mean"], settings["std"])


def sgd(model: nn.Module, hp: dict) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=hp.get("momentum", 0.9),
                           weight_decay=hp.get("weight_decay", 5e-4))


def train_loop(model: nn.Module, epochs: int, epoch_batches: Batches, loss_fn, optimizer,
               masked: MaskedUpdate | None = None, device="cpu") -> None:
    """The one SGD loop all methods share. ``loss_fn(model, x, y, epoch)``; ``masked`` keeps
    non-salient weights fixed (``MaskedUpdate``, decision 1)."""
    model.train()
    for epoch in range(epochs):
        for x, y in epoch_batches(epoch):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model, x, y, epoch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss {loss.item()} in epoch {epoch}; lower the learning rate")
            loss.backward()
            if masked is not None:
                masked.before_step()
            optimizer.step()
            if masked is not None:
                masked.after_step(optimizer)


def _ce(model, x, y, epoch):
    return F.cross_entropy(model(x), y)


def _loader(images: Tensor, labels: Tensor, batch_size: int, g: torch.Generator, augment: bool) -> Batches:
    """Shuffled minibatches, with the training augmentation where the profile uses it."""
    return lambda epoch: batches(images, labels, batch_size, g, shuffle=True, augment_images=augment)


def _on(data, hp: dict, g: torch.Generator, settings: dict) -> Batches:
    """``_loader`` over an ImageDataset with the method's batch size and the profile's augmentation."""
    return _loader(data.images, data.labels, hp["batch_size"], g, settings["augment"])


@torch.no_grad()
def _val_accuracy(model, images, labels, batch_size, device) -> float:
    model.eval()
    hits = sum((model(x.to(device)).argmax(1).cpu() == y).sum().item() for x, y in batches(images, labels, batch_size))
    model.train()
    return hits / len(labels)


def train_from_scratch(settings: dict, images: Tensor, labels: Tensor, num_classes: int, hp: dict, seed: int,
                       val: tuple[Tensor, Tensor] | None = None) -> nn.Module:
    """The original model and Retrain (protocol §2 "Original model", decision 13).

    SGD (lr, momentum 0.9, wd 5e-4), ``schedule`` "cosine" (the author's Retrain) or "step" (x0.1 at
    50 % and 75 % of the epochs, the code's 91/136 of 182). With a non-empty ``val`` the
    best-validation epoch is kept, as the released code does.
    """
    torch.manual_seed(seed)
    device = settings["device"]
    model = build_model(settings, num_classes).to(device, memory_format=torch.channels_last)
    opt = sgd(model, hp)
    if hp["schedule"] == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, hp["epochs"])
    elif hp["schedule"] == "step":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, [hp["epochs"] // 2, hp["epochs"] * 3 // 4], 0.1)
    else:
        raise ValueError(f"unknown schedule {hp['schedule']!r}; choose cosine or step")
    g = torch.Generator().manual_seed(seed)
    best, best_acc = None, -1.0
    for epoch in range(hp["epochs"]):
        train_loop(model, 1, _loader(images, labels, hp["batch_size"], g, settings["augment"]), _ce, opt, device=device)
        sched.step()
        if val is not None and len(val[1]):
            acc = _val_accuracy(model, *val, settings["eval_batch_size"], device)
            if acc > best_acc:
                best, best_acc = copy.deepcopy(model.state_dict()), acc
    if best is not None:
        model.load_state_dict(best)
    return model.eval()


def other_label(y: Tensor, num_classes: int, g: torch.Generator) -> Tensor:
    """A label drawn uniformly from the classes other than ``y`` (decision 5; the paper's y' != y)."""
    return (y + torch.randint(1, num_classes, y.shape, generator=g)) % num_classes


# --- the methods: each takes (model to change in place, scenario, hp, generator, settings) ---------------

def _ft(model, sc: Scenario, hp, g, settings, l1: float = 0.0):
    """FT: CE fine-tuning on D_r. With ``l1`` > 0 it is l1-sparse: CE + alpha_t ||theta||_1, alpha_t
    decaying linearly to 0 over the epochs (protocol §2, [3P] alpha 1e-4)."""
    def loss(m, x, y, epoch):
        ce = F.cross_entropy(m(x), y)
        if l1 == 0.0:
            return ce
        alpha_t = l1 * (1 - epoch / hp["epochs"])
        return ce + alpha_t * sum(p.abs().sum() for p in m.parameters())
    train_loop(model, hp["epochs"], _on(sc.retain, hp, g, settings), loss,
               sgd(model, hp), device=settings["device"])


def _ga(model, sc: Scenario, hp, g, settings):
    """GA: gradient ascent on D_f, loss = -CE (protocol §2)."""
    train_loop(model, hp["epochs"], _on(sc.forget, hp, g, settings),
               lambda m, x, y, e: -F.cross_entropy(m(x), y), sgd(model, hp), device=settings["device"])


def rl_batches(sc: Scenario, num_classes: int, batch_size: int, g: torch.Generator, order: str,
               augment: bool) -> Batches:
    """Random-label epochs (protocol §2 "Epoch structure", decision 6).

    "sequential" (HEAD, CIFAR-10): a pass over D_f with fresh y' != y per batch, then a full pass over
    D_r. "joint" (CIFAR-100 / older code): y' drawn once per epoch, D_f and D_r shuffled together.
    """
    fx, fy, rx, ry = sc.forget.images, sc.forget.labels, sc.retain.images, sc.retain.labels
    if order == "sequential":
        def epoch_batches(epoch):
            for x, y in batches(fx, fy, batch_size, g, shuffle=True, augment_images=augment):
                yield x, other_label(y, num_classes, g)
            yield from batches(rx, ry, batch_size, g, shuffle=True, augment_images=augment)
    elif order == "joint":
        def epoch_batches(epoch):
            labels = torch.cat([other_label(fy, num_classes, g), ry])
            yield from batches(torch.cat([fx, rx]), labels, batch_size, g, shuffle=True, augment_images=augment)
    else:
        raise ValueError(f"unknown rl_order {order!r}; choose sequential or joint")
    return epoch_batches


def _rl(model, sc: Scenario, hp, g, settings, masked: MaskedUpdate | None = None):
    """RL: the SalUn objective without the mask (protocol §2 "Objective", decision 18)."""
    epoch_batches = rl_batches(sc, len(sc.retain.class_names), hp["batch_size"], g, hp.get("rl_order", "sequential"),
                               settings["augment"])
    train_loop(model, hp["epochs"], epoch_batches, _ce, sgd(model, hp), masked=masked, device=settings["device"])


def salun_mask(model: nn.Module, sc: Scenario, hp: dict, settings: dict) -> dict[str, Tensor]:
    """The classification saliency mask (protocol §1 "Computation"): model in eval(), loss -CE on D_f,
    over every named parameter, global top ``mask_ratio``. One deterministic pass with the test transform
    (decision 4; the released code keeps the training augmentation on)."""
    model.eval()
    device = settings["device"]
    params = dict(model.named_parameters())
    loss = lambda b: -F.cross_entropy(model(b[0].to(device)), b[1].to(device))
    return saliency_mask(params, loss, batches(sc.forget.images, sc.forget.labels, hp["mask_batch_size"]),
                         hp["mask_ratio"])


def _fgsm_labels(frozen: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """BS: the original model's prediction on an FGSM example of x (eps in [0, 1] pixel units) -- the
    "nearest wrong class" (protocol §2)."""
    x = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(F.cross_entropy(frozen(x), y), x)
    with torch.no_grad():
        return frozen((x + eps * grad.sign()).clamp(0, 1)).argmax(1)


def _bs(model, sc: Scenario, hp, g, settings):
    """BS (boundary shrink): fine-tune D_f towards the labels a frozen theta_o gives its FGSM examples."""
    frozen = copy.deepcopy(model).eval().requires_grad_(False)
    loss = lambda m, x, y, e: F.cross_entropy(m(x), _fgsm_labels(frozen, x, y, hp["eps"]))
    train_loop(model, hp["epochs"], _on(sc.forget, hp, g, settings), loss,
               sgd(model, hp), device=settings["device"])


def _be(model, sc: Scenario, hp, g, settings):
    """BE (boundary expanding): add a shadow class C, fine-tune D_f towards it, then prune the shadow
    neuron so the model has C outputs again (decision 9: the released code never prunes)."""
    old = model.fc
    c = old.out_features
    wide = nn.Linear(old.in_features, c + 1).to(old.weight.device)
    with torch.no_grad():
        wide.weight[:c].copy_(old.weight)
        wide.bias[:c].copy_(old.bias)
    model.fc = wide
    shadow = lambda m, x, y, e: F.cross_entropy(m(x), torch.full_like(y, c))
    train_loop(model, hp["epochs"], _on(sc.forget, hp, g, settings), shadow,
               sgd(model, hp), device=settings["device"])
    model.fc = nn.Linear(old.in_features, c).to(old.weight.device)
    with torch.no_grad():
        model.fc.weight.copy_(wide.weight[:c])
        model.fc.bias.copy_(wide.bias[:c])


def _mean_gradient(model, images, labels, batch_size, device) -> Tensor:
    params = [p for p in model.parameters()]
    total = torch.zeros(sum(p.numel() for p in params), device=device)
    for x, y in batches(images, labels, batch_size):
        loss = F.cross_entropy(model(x.to(device)), y.to(device), reduction="sum")
        total += torch.cat([gr.flatten() for gr in torch.autograd.grad(loss, params)])
    return total / len(labels)


def fisher_inverse_product(model, images, labels, v: Tensor, damping: float, device) -> Tensor:
    """F^{-1} v for the damped empirical Fisher F = damping*I + (1/N) sum_i g_i g_i^T over N samples.

    The released IU code approximates this inverse with a WoodFisher rank-1 recursion over ~1,000
    retain samples (protocol §2). We compute the same damped-Fisher inverse in closed form with the
    Woodbury identity, F^{-1} v = (v - G^T (N*damping*I + G G^T)^{-1} G v) / damping, which needs the
    N x d matrix G of per-sample gradients (N*d floats of memory).
    """
    params = [p for p in model.parameters()]
    rows = []
    for i in range(len(labels)):
        loss = F.cross_entropy(model(images[i:i + 1].to(device)), labels[i:i + 1].to(device))
        rows.append(torch.cat([gr.flatten() for gr in torch.autograd.grad(loss, params)]))
    G = torch.stack(rows)
    n = len(rows)
    small = n * damping * torch.eye(n, device=device, dtype=G.dtype) + G @ G.T
    return (v - G.T @ torch.linalg.solve(small, G @ v)) / damping


def _iu(model, sc: Scenario, hp, g, settings):
    """IU (influence unlearning, protocol §2): one step theta += alpha * F^{-1} v with
    v = (n_f / n) * (mean grad on D_f - mean grad on D_r), the size-weighted gradient difference of the
    released code, and F the damped empirical Fisher on ``n_fisher`` random retain samples."""
    device = settings["device"]
    model.eval()
    n_f, n_r = len(sc.forget), len(sc.retain)
    g_f = _mean_gradient(model, sc.forget.images, sc.forget.labels, settings["eval_batch_size"], device)
    g_r = _mean_gradient(model, sc.retain.images, sc.retain.labels, settings["eval_batch_size"], device)
    v = n_f / (n_f + n_r) * (g_f - g_r)
    pick = torch.randperm(n_r, generator=g)[:hp["n_fisher"]]
    step = fisher_inverse_product(model, sc.retain.images[pick], sc.retain.labels[pick], v, hp["damping"], device)
    with torch.no_grad():
        start = 0
        for p in model.parameters():
            p.add_(hp["alpha"] * step[start:start + p.numel()].view(p.shape))
            start += p.numel()


METHODS = {"ft": _ft, "ga": _ga, "rl": _rl, "iu": _iu, "bs": _bs, "be": _be,
           "l1_sparse": lambda m, sc, hp, g, s: _ft(m, sc, hp, g, s, l1=hp["alpha"])}
ALL_METHODS = ["retrain", "ft", "rl", "ga", "iu", "be", "bs", "l1_sparse", "salun"]


def unlearn(name: str, original: nn.Module, sc: Scenario, hp: dict, seed: int, settings: dict):
    """(unlearned model, {"rte_s": seconds of the unlearning itself, "mask_s": mask generation (SalUn),
    "mask_fraction"}). RTE excludes the mask, reported apart (decision 12)."""
    if name not in ALL_METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {ALL_METHODS}")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    info = {}
    start = time.perf_counter()
    if name == "retrain":
        model = train_from_scratch(settings, sc.retain.images, sc.retain.labels, len(sc.retain.class_names), hp, seed)
    else:
        model = copy.deepcopy(original)
        if name == "salun":
            mask = salun_mask(model, sc, hp, settings)
            info["mask_s"] = time.perf_counter() - start
            info["mask_fraction"] = mask_fraction(mask)
            start = time.perf_counter()
            guard = MaskedUpdate(dict(model.named_parameters()), mask, hp.get("leaky_mask", False))
            _rl(model, sc, hp, g, settings, guard)
        else:
            METHODS[name](model, sc, hp, g, settings)
    info["rte_s"] = time.perf_counter() - start
    return model.eval(), info


def scenario_for(name: str, data: dict, seed: int, forget_class: int = 0) -> Scenario:
    """"random_10" / "random_50" (percent of the train set) or "class" (``forget_class``), protocol §3."""
    if name.startswith("random_"):
        return make_scenario(data["train"], data["test"], "random", seed, int(name.split("_")[1]) / 100)
    if name == "class":
        return make_scenario(data["train"], data["test"], "class", seed, forget_class=forget_class)
    raise ValueError(f"unknown scenario {name!r}; choose random_<percent> or class")


def original_model(settings: dict, data: dict, seed: int, cache_dir: Path | None = None) -> nn.Module:
    """The model to unlearn from, trained on the whole train set; cached in ``cache_dir`` under a name
    that hashes every setting it depends on, so a changed setting never reuses a stale model."""
    keys = ("dataset", "train_per_class", "test_per_class", "val_fraction", "augment", "width", "mean", "std",
            "original")
    tag = hashlib.sha256(json.dumps({k: settings[k] for k in keys}, sort_keys=True).encode()).hexdigest()[:10]
    path = cache_dir / f"08_original_{tag}_seed{seed}.pt" if cache_dir is not None else None
    num_classes = len(data["train"].class_names)
    if path is not None and path.is_file():
        model = build_model(settings, num_classes).to(settings["device"], memory_format=torch.channels_last)
        model.load_state_dict(torch.load(path, map_location=settings["device"], weights_only=True))
        return model.eval()
    val = (data["val"].images, data["val"].labels)
    model = train_from_scratch(settings, data["train"].images, data["train"].labels, num_classes,
                               settings["original"], seed, val)
    if path is not None:
        atomic_torch_save(model.state_dict(), path)
    return model


def run_trials(settings: dict, scenario: str, seeds: list[int], methods: list[str],
               cache_dir: Path | None = None) -> dict[str, list[dict[str, float]]]:
    """{method: one row per seed of UA, RA, TA, MIA, rte_min (+ mask_min for SalUn)}; "original" is the
    model before unlearning. Each seed draws its own data subset, forget set and original model."""
    runs = {m: [] for m in ["original", *methods]}
    bs, device = settings["eval_batch_size"], settings["device"]
    for seed in seeds:
        data = load_datasets(settings, seed)
        sc = scenario_for(scenario, data, seed, settings["forget_class"])
        original = original_model(settings, data, seed, cache_dir)
        runs["original"].append(evaluate(original, sc, bs, device))
        for method in tqdm(methods, desc=f"{scenario}, seed {seed}", leave=False):
            model, info = unlearn(method, original, sc, settings["methods"][method], seed, settings)
            row = {**evaluate(model, sc, bs, device), "rte_min": info["rte_s"] / 60}
            if "mask_s" in info:
                row["mask_min"] = info["mask_s"] / 60
            runs[method].append(row)
    return runs
