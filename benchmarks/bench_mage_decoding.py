"""Batched vs per-image MaskGIT inpainting with MAGE: images/s against batch size, in one run.

    python benchmarks/bench_mage_decoding.py                          # shipped tiny model, CPU
    python benchmarks/bench_mage_decoding.py --config vit_base_patch16 --device cuda   # random weights, real shapes

Every batch size generates the same ``--images`` images (centre hole r = 1/2, 20 iterations) through
``l2l_utils.evaluate.generate``, the path the notebooks use; the ratio to batch size 1 is the batching gain.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import DEFAULT_OUT, provenance, save, throughput_vs_batch  # noqa: E402

from l2l_utils import PROJECT_ROOT  # noqa: E402
from l2l_utils.evaluate import generate  # noqa: E402
from l2l_utils.models.mage import MAGEGenerator, build_mage, load_mage_checkpoint  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT))
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch-sizes", default="1,4,16,64")
    ap.add_argument("--task", default="center_0.5")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    if args.config == "tiny":
        model = load_mage_checkpoint(PROJECT_ROOT / "checkpoints" / "mage_tiny_clipart.pt", "tiny")
    else:
        model = MAGEGenerator(build_mage(args.config)).eval()
    model = model.to(args.device)
    size = model.mage.grid * model.patch_size
    images = torch.rand(args.images, 3, size, size, generator=torch.Generator().manual_seed(0))

    def make_fn(batch):
        return lambda: generate(model, images, args.task, batch_size=batch, device=args.device)
    rows = throughput_vs_batch(make_fn, [int(b) for b in args.batch_sizes.split(",")], args.images, args.device)
    result = {**provenance(args.device), "config": args.config, "task": args.task, "num_iter": model.num_iter,
              "images": args.images, "rows": rows}
    save(f"mage_decoding_{args.config}_{args.device}", result, args.out_dir)


if __name__ == "__main__":
    main()
