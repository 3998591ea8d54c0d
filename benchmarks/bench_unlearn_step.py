"""Unlearning-step throughput and model-FLOPs utilisation (MFU) of one family, in one run.

    python benchmarks/bench_unlearn_step.py --family mae                     # shipped tiny model, CPU
    python benchmarks/bench_unlearn_step.py --family mage --config vit_base_patch16 --device cuda --batch-size 32

FLOPs per step are counted by ``torch.utils.flop_counter.FlopCounterMode`` over one whole step of
``l2l_utils.unlearn`` (teacher and student forwards, backward; matmuls, convolutions and attention);
time per step is (time of N+1 steps - time of 1 step) / N, so set-up is not counted. MFU = achieved
FLOP/s / the device's dense bf16 peak (``--peak-tflops``; known for H100/H200 SXM: 989). Full-size
configs run with random weights of the real shapes on random images of the real size.
"""
import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from common import DEFAULT_OUT, provenance, save  # noqa: E402

from l2l_utils.data import ImageDataset  # noqa: E402
from l2l_utils.unlearn import UnlearnConfig, unlearn  # noqa: E402

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0}  # dense, SXM (NVIDIA data sheets)
SHIPPED = {"mae": "tiny", "mage": "tiny", "palette": "tiny32"}


def build(family: str, config: str):
    from l2l_utils.models import mae, mage, palette
    if family == "mae":
        return mae.MAEGenerator(mae.build_mae(config))
    if family == "mage":
        return mage.MAGEGenerator(mage.build_mage(config))
    return palette.PaletteGenerator(palette.build_network(config))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=sorted(SHIPPED), required=True)
    ap.add_argument("--config", help="default: the shipped model's config (random weights)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=16, help="forget and retain images per step each")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--peak-tflops", type=float, help="dense bf16 peak; default from the device name")
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    config = args.config or SHIPPED[args.family]
    torch.manual_seed(0)
    model = build(args.family, config).to(args.device)
    size = model.image_size
    g = torch.Generator().manual_seed(0)
    data = ImageDataset(torch.rand(4 * args.batch_size, 3, size, size, generator=g),
                        torch.zeros(4 * args.batch_size, dtype=torch.long), ["x"], "random")

    def run(steps):
        cfg = UnlearnConfig(steps=steps, batch_size=args.batch_size, tasks=("center_0.5",), augment=False)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        unlearn(model, data, data, cfg, device=args.device, progress=False)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    with FlopCounterMode(display=False) as counter:
        run(1)
    flops = counter.get_total_flops()
    run(1)  # warm-up (kernels, allocator)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    per_step = (run(args.steps + 1) - run(1)) / args.steps
    prov = provenance(args.device)
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in prov["device_name"]), None)
    row = {"batch_size": args.batch_size, "seconds_per_step": per_step,
           "images_per_s": 2 * args.batch_size / per_step, "flops_per_step": flops,
           "achieved_tflops": flops / per_step / 1e12, "mfu": flops / per_step / (peak * 1e12) if peak else None,
           "peak_memory_gib": torch.cuda.max_memory_allocated() / 2 ** 30 if args.device.startswith("cuda") else None}
    result = {**prov, "family": args.family, "config": config, "image_size": size, "steps": args.steps,
              "peak_bf16_tflops": peak, "rows": [row]}
    save(f"unlearn_step_{args.family}_{config}_{args.device}", result, args.out_dir)


if __name__ == "__main__":
    main()
