"""Timing and provenance shared by the benchmarks: every result records device, date and commit."""
from __future__ import annotations

import datetime
import platform
import subprocess
import time

import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.io import write_json


def provenance(device: str) -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()
    commit = (git("rev-parse", "--short", "HEAD") or "unknown") + ("-dirty" if git("status", "--porcelain") else "")
    name = torch.cuda.get_device_name() if device.startswith("cuda") else (platform.processor() or platform.machine())
    return {"device": device, "device_name": name, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "date": datetime.date.today().isoformat(), "commit": commit}


def best_seconds(fn, device: str, repeats: int = 3) -> float:
    """Best of ``repeats`` timed calls of ``fn()``, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def images_per_second(fn, n_images: int, device: str, repeats: int = 3) -> float:
    """``n_images`` over the best time of ``fn()`` (which makes them)."""
    return n_images / best_seconds(fn, device, repeats)


def throughput_vs_batch(make_fn, batch_sizes, n_images: int, device: str) -> list[dict]:
    """images/s of generating ``n_images`` in batches of each size, and the ratio to batch size 1."""
    rows = [{"batch_size": b, "images_per_s": images_per_second(make_fn(b), n_images, device)} for b in batch_sizes]
    base = next(r["images_per_s"] for r in rows if r["batch_size"] == 1)
    for r in rows:
        r["speedup_vs_batch_1"] = r["images_per_s"] / base
    return rows


DEFAULT_OUT = PROJECT_ROOT / "results" / "benchmarks"


def save(name: str, result: dict, out_dir=DEFAULT_OUT) -> None:
    path = write_json(result, f"{out_dir}/{name}.json")
    print(path)
    for row in result["rows"]:
        print(row)
