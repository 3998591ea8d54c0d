"""Cached vs recomputed real-image features for FID/KID/cosine: seconds per metric evaluation, in one run.

    python benchmarks/bench_fid_features.py                          # embedded test sets, MobileNetV2
    python benchmarks/bench_fid_features.py --backbone inception --device cuda --images 5000

Every unlearning notebook scores the original and the unlearned model, on every task, against the
same real test images; ``evaluate.evaluate`` computes those images' backbone features once per set
and reuses them (its ``feature_cache``). This measures one ``image_metrics`` call (features of the
fills, IS logits, FID, KID, cosine) with the real features recomputed and with them cached. Fills
are stand-ins (the real images with a noisy centre): the metric side costs the same for any pixels.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import DEFAULT_OUT, best_seconds, provenance, save  # noqa: E402

from l2l_utils.data import load_clipart  # noqa: E402
from l2l_utils.metrics import extract_features, get_backbone, get_is_classifier  # noqa: E402
from l2l_utils.metrics.image_metrics import image_metrics  # noqa: E402
from l2l_utils.profiles import get_profile  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="mobilenetv2")
    ap.add_argument("--backbone-weights", default=None)
    ap.add_argument("--images", type=int, default=360, help="real images (embedded: 120 forget + 240 retain)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    cfg = get_profile("embedded")
    real = load_clipart("test").images[:args.images]
    if len(real) < args.images:  # full-scale sizes: repeat the shipped images (the cost is per image)
        real = real.repeat((args.images + len(real) - 1) // len(real), 1, 1, 1)[:args.images]
    fills = real.clone()
    fills[..., 16:48, 16:48] = torch.rand(fills[..., 16:48, 16:48].shape, generator=torch.Generator().manual_seed(0))
    backbone = get_backbone(args.backbone, args.backbone_weights, cfg["feature_size"], args.device)
    classifier = get_is_classifier(cfg["is_classifier"]).to(args.device)
    bs = cfg["eval_batch_size"]
    cached = extract_features(backbone, real, bs)
    recomputed_s = best_seconds(lambda: image_metrics(fills, real, backbone, classifier, bs), args.device, args.repeats)
    cached_s = best_seconds(lambda: image_metrics(fills, real, backbone, classifier, bs, gt_features=cached),
                            args.device, args.repeats)
    rows = [{"real_features": "recomputed", "s_per_evaluation": recomputed_s, "speedup": 1.0},
            {"real_features": "cached", "s_per_evaluation": cached_s, "speedup": recomputed_s / cached_s}]
    name = f"fid_features_{backbone.name}_{args.images}_{args.device.split(':')[0]}"
    save(name, {**provenance(args.device), "backbone": backbone.name, "images": args.images, "rows": rows},
         args.out_dir)


if __name__ == "__main__":
    main()
