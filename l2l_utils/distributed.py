"""Multi-GPU unlearning from a notebook: spawn ``torchrun`` and let the notebook resume the finished run.

A notebook with ``gpus > 1`` calls ``launch_unlearning``: it writes the run's settings to a JSON file
and starts ``python -m torch.distributed.run --nproc_per_node <gpus> -m l2l_utils.distributed <json>``.
Each rank loads the same data and base model, ``unlearn`` wraps the objective in DDP (every rank
trains on its slice of one global batch; ``l2l_utils.unlearn.loop``) and rank 0 writes the run's
checkpoint. The notebook then calls ``unlearn(..., resume=True)`` with the same checkpoint path,
which finds the run finished and returns its weights and loss history without another step.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist

from l2l_utils.io import read_json, write_json


def launch_unlearning(gpus: int, family: str, cfg: dict, ucfg, retain_set: str, seed: int,
                      checkpoint: str | Path) -> None:
    """Run the unlearning of (family, profile settings ``cfg``, ``ucfg``) on ``gpus`` processes."""
    checkpoint = Path(checkpoint)
    spec = write_json({"family": family, "cfg": cfg, "ucfg": asdict(ucfg), "retain_set": retain_set, "seed": seed,
                       "checkpoint": str(checkpoint)}, checkpoint.with_suffix(".launch.json"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
           "-m", "l2l_utils.distributed", str(spec)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"torchrun failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr[-4000:]}")


def _rank_main(spec_path: str) -> None:
    from l2l_utils.experiment import load_base_model, load_experiment_data, retain_for
    from l2l_utils.unlearn import UnlearnConfig, unlearn
    spec = read_json(spec_path)
    cfg, seed = spec["cfg"], spec["seed"]
    cuda = cfg["device"].startswith("cuda") and torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        device = f"cuda:{local_rank}" if cuda else "cpu"
        cfg = {**cfg, "device": device}
        base = load_base_model(cfg, spec["family"])
        data = load_experiment_data(cfg, seed, image_size=base.image_size)
        ucfg = UnlearnConfig(**spec["ucfg"])
        unlearn(base, data["forget_train"], retain_for(data, spec["retain_set"]), ucfg,
                checkpoint=spec["checkpoint"], resume=True, device=device, progress=dist.get_rank() == 0)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _rank_main(sys.argv[1])
