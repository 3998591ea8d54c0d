"""Train the IS_domain classifier on the embedded clip-art set and write its checkpoint + model card.

The paper's IS uses ImageNet/Places365 classifiers that are not available offline; this small CNN is
the in-project substitute (see l2l_utils/metrics/classifier.py). Usage:

    python scripts/train_is_classifier.py [--epochs 25] [--seed 0]

Writes checkpoints/is_classifier_clipart.pt ({"state_dict", "class_names", "meta"}) atomically and
checkpoints/is_classifier_clipart.md. CPU, 2 threads, a few minutes. The same recipe trains the
perceptual-loss network (``--purpose perceptual --seed 1``), the judge of the tiny MAGE's positive
control (``--purpose judge --data fashion_mnist64``) and the IS_domain classifier of the ``fashion`` profile
(``--data fashion_mnist64 --epochs 3 --out checkpoints/is_classifier_fashion_mnist64.pt``).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from l2l_utils.data import load_clipart, load_fashion_mnist64  # noqa: E402
from l2l_utils.metrics.classifier import DEFAULT_CHECKPOINT, DomainClassifier, accuracy  # noqa: E402


def augment(x: torch.Tensor, g: torch.Generator, pad: int = 6) -> torch.Tensor:
    """Random horizontal flips and random crops from a white-padded image (clip art sits on white)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (pad, pad, pad, pad), value=1.0)
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=g)
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


# Datasets a classifier can be trained on: the clip-art (the IS_domain and perceptual networks) and
# Fashion-MNIST drawn like it (the judge of scripts/mage_positive_control.py, the fashion profile's IS_domain).
DATASETS = {"clipart": (load_clipart, "data/clipart64.npz (train/test splits of l2l_utils.data.load_clipart)"),
            "fashion_mnist64": (load_fashion_mnist64, "data/fashion_mnist.npz as l2l_utils.data.load_fashion_mnist64 "
                                                      "draws it (dark on white, 64 px)")}


def train(epochs: int, seed: int, batch_size: int, lr: float, data: str = "clipart") -> tuple[DomainClassifier, dict]:
    torch.manual_seed(seed)  # weight init
    g = torch.Generator().manual_seed(seed)  # batch order and augmentation
    load, provenance = DATASETS[data]
    train_set, test_set = load("train"), load("test")
    model = DomainClassifier(num_classes=len(train_set.class_names))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    steps = epochs * -(-len(train_set) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_set), generator=g)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(augment(train_set.images[idx], g)), train_set.labels[idx],
                                   label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{epochs}  loss {total / len(train_set):.4f}  "
              f"{time.perf_counter() - start:.0f}s", flush=True)
    train_time = time.perf_counter() - start
    meta = {
        "seed": seed, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "train_time_s": round(train_time, 1),
        "train_accuracy": accuracy(model, train_set.images, train_set.labels),
        "test_accuracy": accuracy(model, test_set.images, test_set.labels),
        "n_train": len(train_set), "n_test": len(test_set),
        "num_params": sum(p.numel() for p in model.parameters()),
        "dataset": data, "data": provenance,
        "torch": str(torch.__version__), "threads": torch.get_num_threads(), "machine": platform.machine(),
    }
    return model, {"class_names": train_set.class_names, "meta": meta}


def write_checkpoint(model: DomainClassifier, info: dict, path: Path) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"state_dict": model.state_dict(), **info}, tmp)
    os.replace(tmp, path)


PURPOSES = {
    "is": """# IS_domain classifier: `{name}`

**Purpose.** Offline substitute for the classifiers behind the paper's Inception Score (Li et al.,
ICLR 2024: torchvision Inception-v3 for VQ-GAN, ResNet-50-Places365 for diffusion). Neither set of
weights is available offline, so IS computed with this model is reported as **IS_domain** and is
not comparable with published IS values.""",
    "perceptual": """# Perceptual-loss classifier: `{name}`

**Purpose.** The feature network of an LPIPS-style tokenizer loss (`metrics.classifier.feature_distance`,
`pretrain_vqgan(perceptual=...)`), standing in for LPIPS's VGG, whose ImageNet weights are not offline.
The IS_domain classifier's recipe with another seed, so that the tokenizer is not trained against the
classifier that later judges it (the two still share architecture and data).""",
    "judge": """# Judge of the tiny MAGE's positive control: `{name}`

**Purpose.** Says how often a filled Fashion-MNIST image is still put in its class
(`evaluate.recognisability` in `scripts/mage_positive_control.py`), as `is_classifier_clipart.pt` does for the
clip-art. Not an IS classifier of any profile.""",
}

SHIPPED = {"is", "perceptual"}  # tests/test_metrics.py re-checks their committed checkpoints
ACCURACY_CHECKED = "The test suite re-computes the test accuracy from\nthis checkpoint and checks it against the value " \
    "stored in its `meta`."


def model_card(info: dict, ckpt: Path, purpose: str = "is") -> str:
    m = info["meta"]
    options = ("" if purpose == "is" else f" --purpose {purpose}") + \
        ("" if m.get("dataset", "clipart") == "clipart" else f" --data {m['dataset']}") + \
        ("" if ckpt.name == DEFAULT_CHECKPOINT.name else f" --out checkpoints/{ckpt.name}")  # the defaults left out
    return PURPOSES[purpose].format(name=ckpt.name) + f"""

| | |
|---|---|
| Data | {m['data']}; {m['n_train']} train / {m['n_test']} test images, 64x64 RGB on white |
| Classes ({len(info['class_names'])}) | {', '.join(info['class_names'])} |
| Architecture | `l2l_utils.metrics.classifier.DomainClassifier`: 5 VGG-style blocks (16-32-64-128-256 channels, 1-1-2-2-1 convs, BN, max-pool), global average pool, dropout 0.2, linear head; inputs in [0, 1] |
| Parameters | {m['num_params']:,} ({ckpt.stat().st_size / 1e6:.2f} MB on disk) |
| Training | AdamW (lr {m['lr']}, one-cycle, weight decay 5e-4), batch {m['batch_size']}, label smoothing 0.1, random flips + white-padded random crops (6 px) |
| Epochs / seed | {m['epochs']} / {m['seed']} |
| Train time | {m['train_time_s']} s on {m['threads']} CPU threads (torch {m['torch']}, {m['machine']}) |
| Train accuracy | {m['train_accuracy']:.4f} |
| **Test accuracy** | **{m['test_accuracy']:.4f}** |

Reproduce: `python scripts/train_is_classifier.py --epochs {m['epochs']} --seed {m['seed']}{options}`.
Load: `l2l_utils.metrics.load_is_classifier({"" if ckpt.name == DEFAULT_CHECKPOINT.name else f'"checkpoints/{ckpt.name}"'})`. {ACCURACY_CHECKED if purpose in SHIPPED else "Not shipped: no test re-checks this accuracy."}
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--purpose", choices=sorted(PURPOSES), default="is", help="what the card says the model is for")
    p.add_argument("--data", choices=sorted(DATASETS), default="clipart")
    args = p.parse_args()
    torch.set_num_threads(2)
    model, info = train(args.epochs, args.seed, args.batch_size, args.lr, args.data)
    write_checkpoint(model, info, args.out)
    args.out.with_suffix(".md").write_text(model_card(info, args.out, args.purpose))
    print(f"test accuracy {info['meta']['test_accuracy']:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
