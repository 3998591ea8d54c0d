import importlib.util

import pytest
import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.models.mae import MAEGenerator, build_mae

MICRO_MAE = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                 decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)


@pytest.fixture
def micro_mae():
    """A randomly initialised MAE small enough for unit tests (32 px, 16 patches)."""
    torch.manual_seed(0)
    return MAEGenerator(build_mae(MICRO_MAE)).eval()


@pytest.fixture
def interrupt_on_call(monkeypatch):
    """``interrupt_on_call(module, name, n)`` makes the n-th call of ``module.name`` raise
    KeyboardInterrupt (a run killed mid-way); it returns the original for restoring."""
    def install(module, name, n):
        real, calls = getattr(module, name), {"n": 0}

        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)
        return real
    return install


@pytest.fixture
def project_module():
    """``project_module(folder, name)`` imports ``<project>/<folder>/<name>.py`` (the scripts and
    benchmarks are files, not a package)."""
    def load(folder, name):
        spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
