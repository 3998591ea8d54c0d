"""Batched vs per-image generation: images/s against batch size, in one run.

    python benchmarks/bench_generation.py --family mage       # shipped tiny MAGE, MaskGIT decoding (20 its)
    python benchmarks/bench_generation.py --family palette    # shipped tiny Palette, 50 respaced steps
    python benchmarks/bench_generation.py --family mage --config vit_base_patch16 --device cuda   # real shapes

Every batch size fills the centre hole (r = 1/2) of the same ``--images`` images through
``l2l_utils.evaluate.generate``, the path the notebooks use; the ratio to batch size 1 is the
batching gain. Full-size configs run with random weights of the real shapes.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import DEFAULT_OUT, provenance, save, throughput_vs_batch  # noqa: E402

from l2l_utils import PROJECT_ROOT  # noqa: E402
from l2l_utils.evaluate import generate  # noqa: E402

SHIPPED = {"mage": ("tiny", "mage_tiny_clipart.pt"), "palette": ("tiny32", "palette_tiny_clipart.pt")}


def build(family: str, config: str):
    """The shipped checkpoint for its config, else random weights of ``config``'s shapes."""
    from l2l_utils.models import mage, palette
    module = mage if family == "mage" else palette
    if config == SHIPPED[family][0]:
        load = module.load_mage_checkpoint if family == "mage" else module.load_palette_checkpoint
        return load(PROJECT_ROOT / "checkpoints" / SHIPPED[family][1], config)
    if family == "mage":
        return mage.MAGEGenerator(mage.build_mage(config)).eval()
    return palette.PaletteGenerator(palette.build_network(config)).eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=sorted(SHIPPED), required=True)
    ap.add_argument("--config", help="default: the shipped model's")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--batch-sizes", default="1,4,16,32")
    ap.add_argument("--steps", type=int, default=50, help="palette: respaced sampling steps")
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    config = args.config or SHIPPED[args.family][0]
    torch.manual_seed(0)
    model = build(args.family, config).to(args.device)
    settings = {"num_iter": model.num_iter} if args.family == "mage" else {"steps": args.steps}
    if args.family == "palette":
        model.sample_steps = args.steps
    images = torch.rand(args.images, 3, model.image_size, model.image_size, generator=torch.Generator().manual_seed(0))

    def make_fn(batch):
        return lambda: generate(model, images, "center_0.5", batch_size=batch, device=args.device)
    rows = throughput_vs_batch(make_fn, [int(b) for b in args.batch_sizes.split(",")], args.images, args.device)
    result = {**provenance(args.device), "family": args.family, "config": config, "task": "center_0.5",
              "images": args.images, **settings, "rows": rows}
    save(f"generation_{args.family}_{config}_{args.device}", result, args.out_dir)


if __name__ == "__main__":
    main()
