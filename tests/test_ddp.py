"""Data-parallel unlearning (torchrun / DDP) on CPU with gloo: two ranks follow one process's trajectory."""
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from conftest import MICRO_MAE
from l2l_utils.data import synthetic_dataset
from l2l_utils.models.mae import MAEGenerator, build_mae
from l2l_utils.unlearn import UnlearnConfig, unlearn

STEPS = 4


def _run(batch_size: int, method: str):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = MAEGenerator(build_mae(MICRO_MAE))
    data = synthetic_dataset(n_per_class=6, size=32)
    forget, retain = data.subset(data.labels == 0), data.subset(data.labels != 0)
    cfg = UnlearnConfig(method=method, steps=STEPS, batch_size=batch_size, blr=1e-2)
    model, history = unlearn(model, forget, retain, cfg, progress=False)
    return model, history


def _worker(rank: int, world: int, init_file: str, out: str, method: str):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model, history = _run(batch_size=3, method=method)
        if rank == 0:
            torch.save({"history": history, "state": model.state_dict()}, out)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_match_one_process_with_the_same_global_batch(tmp_path):
    """retain_label draws nothing inside its objective, so the only difference between the runs is
    where float32 sums happen (gradients all-reduced across ranks vs one mean over the global batch)."""
    out = tmp_path / "ddp.pt"
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(out), "retain_label"), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)
    single_model, single_history = _run(batch_size=6, method="retain_label")
    for a, b in zip(ddp["history"], single_history, strict=True):
        for key in ("loss", "retain", "forget"):
            assert abs(a[key] - b[key]) <= 1e-5 * abs(b[key]) + 1e-7, (a, b)
    # Adam moves every weight by about lr per step whatever its gradient's size, so weights whose gradient
    # is at float-noise level move by noise (here: 3 of 48 tensors at 1e-4..1e-3 relative, the rest < 2e-5).
    # A wrong slice or a missing all-reduce moves weights by O(1) relative.
    torch.manual_seed(0)
    start = MAEGenerator(build_mae(MICRO_MAE)).state_dict()
    moved = sorted(((ddp["state"][n] - v).norm() / (v - start[n]).norm()).item()
                   for n, v in single_model.state_dict().items() if (v - start[n]).norm() > 0)
    assert moved[len(moved) // 2] < 1e-5 and moved[-1] < 1e-2, moved


def test_a_notebook_parameter_spawns_torchrun_and_the_notebook_collects_the_run(tmp_path):
    """What a notebook does with gpus=2 (here two gloo ranks on CPU): launch, then resume the finished run."""
    from l2l_utils.distributed import launch_unlearning
    from l2l_utils.experiment import load_base_model, load_experiment_data
    from l2l_utils.profiles import get_profile
    cfg = get_profile("smoke")
    ucfg = UnlearnConfig(steps=2, batch_size=2, blr=cfg["blr"], tasks=("center_0.5",))
    ckpt = tmp_path / "run.pt"
    launch_unlearning(2, "mae", cfg, ucfg, "real", 0, ckpt)
    saved = torch.load(ckpt, weights_only=True)
    assert saved["step"] == 2 and len(saved["rank_generators"]) == 2
    base = load_base_model(cfg, "mae")
    data = load_experiment_data(cfg, 0)
    model, history = unlearn(base, data["forget_train"], data["retain_train"], ucfg, checkpoint=ckpt, resume=True)
    assert history == saved["history"]
    for name, value in model.state_dict().items():
        assert torch.equal(value, saved["model"][name])
