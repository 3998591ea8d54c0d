"""The forget/retain separability diagnostic (l2l_utils.latents)."""
import copy
import math

import pytest
import torch

from l2l_utils.data import ImageDataset
from l2l_utils.latents import (encoder_latents, heldout_terms, mean_squared_distances, nearest_distance,
                               probe_accuracy, separability)
from l2l_utils.masks import make_mask
from l2l_utils.unlearn.objectives import embedding_mse, make_noise


def test_pairwise_distances_are_the_objectives_embedding_mse_and_nearest_leaves_itself_out():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 3, 4, generator=g), torch.randn(7, 3, 4, generator=g)
    d = mean_squared_distances(a, b)
    assert d.shape == (5, 7)
    for i, j in [(0, 0), (2, 5), (4, 6)]:
        assert d[i, j].item() == pytest.approx(embedding_mse(a[i:i + 1], b[j:j + 1]).item(), rel=1e-5)
    assert torch.equal(nearest_distance(a, b), d.min(1).values)
    own = nearest_distance(torch.cat([a, a[:1] + 0.01]))  # a[0]'s twin is its nearest, not a[0] itself
    assert own[0].item() == pytest.approx(1e-4, rel=1e-3) and (own[1:5] > 1e-3).all()


def test_the_probe_finds_a_linear_split_and_only_chance_where_there_is_none():
    g = torch.Generator().manual_seed(0)

    def draw(shift):
        return torch.randn(200, 8, generator=g) + shift

    # unit Gaussians 3 apart along one axis: the best possible rule scores Phi(1.5) = 0.933
    apart = torch.tensor([3.0] + [0.0] * 7)
    best = 0.5 * (1 + math.erf(1.5 / math.sqrt(2)))
    assert abs(probe_accuracy(draw(0), draw(apart), draw(0), draw(apart)) - best) < 0.05
    # same distribution on both sides: 200 + 200 test rows give a standard error of 0.035 on chance
    assert abs(probe_accuracy(draw(0), draw(0), draw(0), draw(0)) - 0.5) < 0.15


def test_separability_of_a_model_reports_its_latent_distances(micro_mae):
    g = torch.Generator().manual_seed(1)

    def images(n, shade):
        return ImageDataset((torch.rand(n, 3, 32, 32, generator=g) * 0.5 + shade).clamp(0, 1),
                            torch.zeros(n, dtype=torch.long), ["c"])

    data = {"forget_train": images(24, 0.0), "retain_train": images(24, 0.5),
            "forget_test": images(12, 0.0), "retain_test": images(12, 0.5)}
    mask = make_mask("center_0.5", 1, 32)
    row = separability(micro_mae, data, mask, seed=0, batch_size=5)
    forget = encoder_latents(micro_mae, data["forget_test"].images, mask)
    noise = make_noise(data["forget_test"].images, "normal", torch.Generator().manual_seed(0))
    target = encoder_latents(micro_mae, noise, mask)
    assert row["noise_target_distance"] == pytest.approx(embedding_mse(forget, target).item(), rel=1e-5)
    # the two sets differ in brightness: visible pixels tell them apart at once
    assert row["probe_pixels"] == 1.0 and 0.0 <= row["probe_latent"] <= 1.0
    assert 0 < row["nearest_forget_distance"] and 0 < row["nearest_retain_distance"]
    # the held-out terms: before any step, the forget term is that distance and the retain term nil
    moved = copy.deepcopy(micro_mae)
    with torch.no_grad():
        next(moved.encoder_parameters()).add_(0.1)
    terms = heldout_terms({"same": micro_mae, "moved": moved}, micro_mae, data, mask, seed=0, batch_size=5)
    assert terms["same"]["heldout_forget_term"] == pytest.approx(row["noise_target_distance"], rel=1e-6)
    assert terms["same"]["heldout_retain_term"] == 0.0
    assert terms["moved"]["heldout_retain_term"] > 0


def test_an_unlearning_run_loads_only_onto_the_base_model_it_started_from(micro_mae, tmp_path):
    from l2l_utils.io import fingerprint
    from l2l_utils.unlearn import load_unlearned
    moved = copy.deepcopy(micro_mae)
    with torch.no_grad():
        next(moved.encoder_parameters()).add_(0.1)
    run = tmp_path / "run.pt"
    torch.save({"model": moved.state_dict(), "base_model": fingerprint(micro_mae.state_dict())}, run)
    loaded = load_unlearned(copy.deepcopy(micro_mae), run)
    assert fingerprint(loaded.state_dict()) == fingerprint(moved.state_dict())
    with pytest.raises(ValueError, match="unlearned another base model"):
        load_unlearned(copy.deepcopy(moved), run)


def test_a_model_without_one_token_latent_is_refused():
    class Maps(torch.nn.Module):  # the diffusion family's kind: a list of feature maps
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def encode(self, x, mask):
            return [x, x]

    with pytest.raises(ValueError, match="one \\(batch, tokens, width\\) latent"):
        encoder_latents(Maps(), torch.zeros(2, 3, 8, 8), torch.zeros(1, 1, 8, 8))


def test_the_script_writes_every_evaluation_task_of_the_profile(monkeypatch, project_module):
    import json
    import sys

    from l2l_utils import PROJECT_ROOT
    from l2l_utils.profiles import get_profile
    result = PROJECT_ROOT / "results" / "smoke" / "latent_separability__mage.json"
    result.unlink(missing_ok=True)
    monkeypatch.setattr(sys, "argv", ["latent_separability.py", "--profile", "smoke", "--family", "mage"])
    project_module("scripts", "latent_separability").main()
    saved = json.loads(result.read_text())
    keys = {"noise_target_distance", "nearest_retain_distance", "nearest_forget_distance", "probe_latent",
            "probe_pixels"}
    assert set(saved["metrics"]) == {f"original/{t}/{k}" for t in get_profile("smoke")["eval_tasks"] for k in keys}
    assert saved["meta"]["images"]["forget_test"] == 3 * get_profile("smoke")["test_images_per_class"]
