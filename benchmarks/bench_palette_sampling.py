"""Palette sampling throughput (images/s) against batch size, in one run.

    python benchmarks/bench_palette_sampling.py                       # shipped tiny model, CPU, 50 steps
    python benchmarks/bench_palette_sampling.py --config places2_inpainting --device cuda --steps 100

Every batch size inpaints the same ``--images`` images (centre hole r = 1/2) through
``l2l_utils.evaluate.generate`` on a ``--steps``-step respaced schedule; images/s scales the same
way for the protocol's 2,000 steps (each step is one batched UNet call).
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import DEFAULT_OUT, provenance, save, throughput_vs_batch  # noqa: E402

from l2l_utils import PROJECT_ROOT  # noqa: E402
from l2l_utils.evaluate import generate  # noqa: E402
from l2l_utils.models.palette import PaletteGenerator, build_network, load_palette_checkpoint  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT))
    ap.add_argument("--config", default="tiny32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-sizes", default="1,4,16,32")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    if args.config == "tiny32":  # the shipped model
        model = load_palette_checkpoint(PROJECT_ROOT / "checkpoints" / "palette_tiny_clipart.pt", "tiny32")
    else:
        model = PaletteGenerator(build_network(args.config)).eval()
    model.sample_steps = args.steps
    model = model.to(args.device)
    size = model.image_size
    images = torch.rand(args.images, 3, size, size, generator=torch.Generator().manual_seed(0))

    def make_fn(batch):
        return lambda: generate(model, images, "center_0.5", batch_size=batch, device=args.device)
    rows = throughput_vs_batch(make_fn, [int(b) for b in args.batch_sizes.split(",")], args.images, args.device)
    result = {**provenance(args.device), "config": args.config, "steps": args.steps, "images": args.images,
              "rows": rows}
    save(f"palette_sampling_{args.config}_{args.device}", result, args.out_dir)


if __name__ == "__main__":
    main()
