"""Pre-training of the shipped VQ-GAN-family and diffusion base models, and what the shipped ones can do."""
import json
import sys

import pytest
import torch

from l2l_utils import PROJECT_ROOT
from l2l_utils.data import ImageDataset, load_clipart, synthetic_dataset
from l2l_utils.evaluate import baseline_hole_mse, generate, hole_mse, judged_accuracy
from l2l_utils.experiment import load_base_model, load_experiment_data
from l2l_utils.io import file_sha256
from l2l_utils.models.mage import MAGEGenerator, build_mage, load_mage_checkpoint
from l2l_utils.models.palette import PaletteGenerator, build_network, load_palette_checkpoint
from l2l_utils.models.vqgan import build_vqgan
from l2l_utils.masks import make_mask
from l2l_utils.metrics import load_is_classifier
from l2l_utils.metrics.classifier import PERCEPTUAL_CHECKPOINT, feature_distance
from l2l_utils.pretrain_mage import (EVAL_TASKS, _reseed_dead_codes, hole_token_log_frequencies, hole_token_nll,
                                    pretrain_mage, pretrain_vqgan)
from l2l_utils.pretrain_palette import pretrain_palette
from l2l_utils.profiles import get_profile
import l2l_utils.pretrain_mage as pretrain_mage_module

CHECKPOINTS = PROJECT_ROOT / "checkpoints"


def test_dead_codes_take_the_worst_quantised_encoder_outputs_and_live_ones_stay():
    vq = build_vqgan("tiny")
    n = vq.quantize.n_e
    before = vq.quantize.embedding.weight.clone()
    usage = torch.zeros(n, dtype=torch.long)
    usage[:n - 3] = 3  # three dead codes
    z = torch.cat([torch.zeros(40, vq.embed_dim), torch.full((3, vq.embed_dim), 5.0) * torch.arange(1, 4)[:, None]])
    assert _reseed_dead_codes(vq, usage, z) == 3
    w = vq.quantize.embedding.weight
    assert torch.equal(w[:n - 3], before[:n - 3])
    assert sorted(w[n - 3:, 0].tolist()) == [5.0, 10.0, 15.0]  # the far-away vectors, not the many zeros
    assert usage.sum() == 0


def _first_last(meta):
    return meta["loss_curve"][0]["loss"], meta["loss_curve"][-1]["loss"]


def test_tokenizer_then_transformer_pretraining_learns():
    data = synthetic_dataset(n_per_class=4, size=64)
    vq, meta = pretrain_vqgan(data, steps=40, batch_size=8, warmup=5, log_every=10)
    first, last = _first_last(meta)
    assert last < 0.7 * first  # coloured disks on white: an easy reconstruction
    gen, meta = pretrain_mage(data, vq, steps=40, batch_size=16, warmup=5, log_every=10)
    first, last = _first_last(meta)
    assert last < first
    for key, value in vq.state_dict().items():  # the tokenizer is frozen inside MAGE
        assert torch.equal(gen.mage.vqgan.state_dict()[key], value)
    # a second stage continues from the first one's weights, so it starts below where the first started
    _, resumed = pretrain_mage(data, vq, steps=10, batch_size=16, warmup=5, log_every=10, init=gen)
    assert resumed["loss_curve"][0]["loss"] < first


def test_perceptual_term_brings_reconstructions_nearer_in_the_frozen_networks_features():
    """With the committed perceptual classifier on 48 clip-art images, 30 steps: 0.70 / 0.79 / 0.84 of the
    plain tokenizer's distance at seeds 2 / 3 / 4 (CPU, 2026-11-24); without the term it is ~1. A random
    network on synthetic disks is no test: its features did not pull (the first version of this test)."""
    train = load_clipart("train")
    pick = torch.arange(0, len(train), len(train) // 48)[:48]
    data = ImageDataset(train.images[pick], train.labels[pick], train.class_names, "clipart/48")
    net = load_is_classifier(PERCEPTUAL_CHECKPOINT)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    options = dict(steps=30, batch_size=8, warmup=5, log_every=10, seed=2)
    plain, _ = pretrain_vqgan(data, **options)
    sharp, meta = pretrain_vqgan(data, perceptual=net, perceptual_weight=1.0, **options)
    assert meta["perceptual_weight"] == 1.0 and meta["perceptual_net"]["seed"] == 1
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # weights and BN stats frozen
    with torch.no_grad():
        distance = {name: feature_distance(net, vq(data.images)[0], data.images).item()
                    for name, vq in (("plain", plain), ("sharp", sharp))}
    assert distance["sharp"] < 0.9 * distance["plain"]
    with pytest.raises(ValueError, match="together"):
        pretrain_vqgan(data, perceptual=net, **options)


def test_transformer_pretraining_logs_the_held_out_hole_nll_of_the_model_it_returns_and_augments_its_tokens(
        monkeypatch):
    data = synthetic_dataset(n_per_class=4, size=64)
    vq = build_vqgan("tiny").eval().requires_grad_(False)
    options = dict(steps=4, batch_size=8, warmup=2, log_every=2, seed=3)
    gen, meta = pretrain_mage(data, vq, held_out=data, held_out_every=2, **options)
    assert [p["step"] for p in meta["held_out_curve"]] == [2, 4] and meta["device"] == "cpu"
    # the last point is the returned model's score (in eval mode: no dropout left on)
    final = hole_token_nll(gen, data, hole_token_log_frequencies(gen, data))
    assert meta["held_out_curve"][-1] == {"step": 4, **final}
    # the same seed without the held-out set trains the same model: logging draws nothing from the seeded stream
    plain, plain_meta = pretrain_mage(data, vq, **options)
    assert plain_meta["loss_curve"] == meta["loss_curve"] and plain_meta["held_out_curve"] == []
    # shifted and flipped images give other token sequences than the fixed tokens, hence another loss
    calls = []
    monkeypatch.setattr("l2l_utils.pretrain_mage.augment", lambda x, g: calls.append(len(x)) or x.flip(-1))
    _, augmented = pretrain_mage(data, vq, augment_images=True, **options)
    assert augmented["augment_images"] and calls == [8] * 4  # every batch is re-tokenized after augmenting


def test_train_step_clips_the_gradient_norm_when_asked():
    from l2l_utils.pretrain import train_step
    for clip, expected in ((None, [-30.0, -40.0, 0.0]), (5.0, [-3.0, -4.0, 0.0])):  # gradient norm 50
        w = torch.nn.Parameter(torch.zeros(3))
        train_step(torch.optim.SGD([w], lr=1.0), (w * torch.tensor([30.0, 40.0, 0.0])).sum(), 1.0, 0, "test", clip)
        torch.testing.assert_close(w.detach(), torch.tensor(expected))


def test_the_reference_optimiser_exempts_biases_and_norms_from_decay_and_clips_at_three(monkeypatch):
    data, vq = synthetic_dataset(n_per_class=2, size=64), build_vqgan("tiny").eval().requires_grad_(False)
    made, clips, real_adamw = [], [], torch.optim.AdamW
    monkeypatch.setattr(torch.optim, "AdamW", lambda groups, **kw: made.append((list(groups), kw)) or
                        real_adamw(groups, **kw))
    real_step = pretrain_mage_module.train_step
    monkeypatch.setattr(pretrain_mage_module, "train_step", lambda *a: clips.append(a[5]) or real_step(*a))
    for reference in (False, True):
        gen, meta = pretrain_mage(data, vq, steps=1, batch_size=4, warmup=1, reference_optimiser=reference)
        assert meta["reference_optimiser"] is reference and clips[-1] == (3.0 if reference else None)
        groups, kw = made[-1]
        trained = {id(p) for n, p in gen.mage.named_parameters() if p.requires_grad and not n.startswith("vqgan.")}
        if not reference:  # the shipped recipe: one group, decay on everything
            assert {id(p) for p in groups} == trained and kw["weight_decay"] == 0.05
            continue
        decayed, exempt = ({id(p) for p in g["params"]} for g in sorted(groups, key=lambda g: -g["weight_decay"]))
        assert [g["weight_decay"] for g in groups] == [0.05, 0.0] and decayed | exempt == trained
        norms_and_biases = {id(p) for n, p in gen.mage.named_parameters()
                            if not n.startswith("vqgan.") and (n.endswith(".bias") or "norm" in n.lower())}
        assert norms_and_biases and norms_and_biases <= exempt and not exempt & {
            id(gen.mage.token_emb.word_embeddings.weight), id(gen.mage.blocks[0].attn.qkv.weight)}


@pytest.mark.parametrize("augment_images", [False, True])
def test_filled_context_trains_the_views_on_the_tokens_inpainting_feeds_and_scores_the_whole_images(
        monkeypatch, augment_images):
    one = synthetic_dataset(n_per_class=1, num_classes=1, size=64)  # every draw: the image or its mirror image
    x = torch.cat([one.images, one.images.flip(-1)])
    if augment_images:
        monkeypatch.setattr("l2l_utils.pretrain_mage.augment", lambda images, g: images.flip(-1))
    for filled in (False, True):
        gen = MAGEGenerator(build_mage("tiny"))
        seen = []  # (visible ids, targets, token mask) of every step that trained on an evaluated view
        views = {}
        for task in EVAL_TASKS:
            mask = make_mask(task, 1, 64)
            views[task] = gen.token_mask(mask, 1)[0]
            assert not torch.equal(gen.context_tokens(x, mask)[:, ~views[task]], gen.mage.tokenize(x)[:, ~views[task]])
        input_tokens, forward_loss = gen.mage.input_tokens, gen.mage.forward_loss
        monkeypatch.setattr(gen.mage, "input_tokens", lambda ids, masked: seen.append([ids, masked.bool()])
                            or input_tokens(ids, masked))
        monkeypatch.setattr(gen.mage, "forward_loss", lambda gt, logits, masked: seen[-1].append(gt)
                            or forward_loss(gt, logits, masked))
        pretrain_mage(one, gen.mage.vqgan, steps=12, batch_size=4, warmup=2, seed=1, init=gen,
                      augment_images=augment_images, filled_context=filled)
        on_views = 0
        for ids, masked, gt in seen:
            task = next((t for t, v in views.items() if torch.equal(masked, v.expand_as(masked))), None)
            if task is None:  # MAGE's own random masking: token-level, no pixel hole to fill
                assert torch.equal(ids, gt)
                continue
            on_views += 1
            expected = gen.context_tokens(x, make_mask(task, 1, 64)) if filled else gen.mage.tokenize(x)
            for row, target in zip(ids, gt):  # the visible tokens come from the same image as the targets
                source = [i for i in range(2) if torch.equal(target, gen.mage.tokenize(x)[i])]
                assert source and torch.equal(row[~views[task]], expected[source[0]][~views[task]])
        assert on_views > 0


def test_hole_token_nll_scores_a_model_that_knows_the_tokens_and_one_that_guesses_the_marginal(monkeypatch):
    data = synthetic_dataset(n_per_class=4, size=64)
    gen = MAGEGenerator(build_mage("tiny")).eval()
    m = gen.mage

    def knows(x, mask):  # logits (B, 1+L, vocab) with 30 on each true token
        out = torch.zeros(len(x), 1 + m.seq_len, m.vocab_size)
        out[:, 1:].scatter_(-1, m.tokenize(x).unsqueeze(-1), 30.0)
        return out

    monkeypatch.setattr(gen, "outputs", knows)
    frequencies = hole_token_log_frequencies(gen, data, "center_0.5")
    score = hole_token_nll(gen, data, frequencies, task="center_0.5")
    assert score["model_top1"] == 1.0 and score["model_nll"] < 1e-6 and score["marginal_ce"] > 0.1
    assert 0 < score["hole_tokens"] < m.seq_len

    # a model that always answers the whole image's token frequencies scores worse than the frequencies
    # at the hole's own positions (Gibbs' inequality: the data are their own test set here)
    counts = 0.5 + torch.bincount(m.tokenize(data.images).flatten(), minlength=m.codebook_size)
    whole_image = torch.full((m.vocab_size,), -torch.inf)
    whole_image[:m.codebook_size] = (counts / counts.sum()).log()
    monkeypatch.setattr(gen, "outputs", lambda x, mask: whole_image.expand(len(x), 1 + m.seq_len, -1).clone())
    score = hole_token_nll(gen, data, frequencies, task="center_0.5")
    assert score["marginal_ce"] < score["model_nll"]


def test_palette_pretraining_learns_on_the_train_schedule_and_stores_the_test_one():
    data = synthetic_dataset(n_per_class=4, size=64)
    model, meta = pretrain_palette(data, steps=40, batch_size=8, warmup=5, log_every=10)
    first, last = _first_last(meta)
    assert last < first
    reference = PaletteGenerator(build_network("tiny")).network
    torch.testing.assert_close(model.network.gammas, reference.gammas)  # the sampling (test) schedule


def test_denoising_process_ends_in_the_inpainting():
    torch.manual_seed(0)
    model = PaletteGenerator(build_network("tiny"), sample_steps=6).eval()
    x = torch.rand(2, 3, 64, 64)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    frames = model.denoising_process(x, mask, torch.Generator().manual_seed(3), frames=3)
    assert frames.shape[1:] == x.shape and len(frames) >= 4
    torch.testing.assert_close(frames[-1], model.inpaint(x, mask, torch.Generator().manual_seed(3)), rtol=0, atol=0)
    assert len(model.denoising_process(x, mask, torch.Generator().manual_seed(3), frames=8)) >= 6  # 6 steps


@pytest.mark.parametrize("family", ["mage", "palette"])
def test_shipped_model_fills_held_out_holes_from_their_context(family):
    """A floor a sampler can be held to: on 96 held-out clip-art images (every 5th) its centre-hole MSE
    beats pasting the hole of another test image (a real but context-blind fill). A sampler need not
    beat the mean visible colour (a blur); the model cards give both, and how recognisable the fills are."""
    if family == "mage":
        model = load_mage_checkpoint(CHECKPOINTS / "mage_tiny_clipart.pt", "tiny")
    else:
        model = load_palette_checkpoint(CHECKPOINTS / "palette_tiny_clipart.pt", "tiny32")
        model.sample_steps = 50
    images = load_clipart("test", model.image_size).images[::5]
    out, masks = generate(model, images, "center_0.5", batch_size=96, seed=0)
    assert hole_mse(out, images, masks) < baseline_hole_mse(images, masks)["hole_mse_other_image"]


MAGE_TABLE_MODELS = {"original", "ours", "max_loss", "noisy_label", "retain_label", "random_encoder", "ours+proxy",
                     "ours+salun0.5"}


def _smoke_result_of(script_name: str, monkeypatch, project_module) -> dict:
    """Run ``scripts/<script_name>.py --profile smoke`` anew; the metrics it wrote."""
    result = PROJECT_ROOT / "results" / "smoke" / f"{script_name}.json"
    result.unlink(missing_ok=True)
    monkeypatch.setattr(sys, "argv", [f"{script_name}.py", "--profile", "smoke"])
    project_module("scripts", script_name).main()
    return json.loads(result.read_text())["metrics"]


def test_mage_token_nll_script_scores_every_table_row_over_the_same_frozen_tokenizer(monkeypatch, project_module):
    metrics = _smoke_result_of("mage_token_nll", monkeypatch, project_module)
    assert {k.split("/")[0] for k in metrics} == MAGE_TABLE_MODELS
    for subset in ("forget", "retain"):
        marginal = {metrics[f"{row}/center_0.5/{subset}/token_marginal_ce"] for row in MAGE_TABLE_MODELS}
        assert len(marginal) == 1  # each model tokenizes the test images itself: no method touched the tokenizer
        assert len({metrics[f"{row}/center_0.5/{subset}/token_model_nll"] for row in MAGE_TABLE_MODELS}) > 1


def test_mage_recognised_fills_script_judges_each_table_rows_fills_beside_the_blind_fills(monkeypatch,
                                                                                        project_module):
    metrics = _smoke_result_of("mage_recognised_fills", monkeypatch, project_module)
    assert {k.split("/")[0] for k in metrics} == MAGE_TABLE_MODELS | {"whole", "grey", "blur"}
    cfg = get_profile("smoke")
    forget = load_experiment_data(cfg)["forget_test"]
    filled, _ = generate(load_base_model(cfg, "mage"), forget.images, "center_0.5", batch_size=256, seed=0)
    assert metrics["original/center_0.5/forget/recognised"] == judged_accuracy(load_is_classifier(), filled,
                                                                               forget.labels)
    assert metrics["whole/center_0.5/forget/recognised"] == judged_accuracy(load_is_classifier(), forget.images,
                                                                            forget.labels)
    assert len({metrics[f"{row}/center_0.5/retain/recognised"] for row in ("whole", "grey", "blur")}) > 1


def test_mage_sampling_sweep_chooses_on_one_half_and_reports_the_other_beside_the_reference(monkeypatch, tmp_path,
                                                                                           project_module):
    script, out = project_module("scripts", "mage_sampling_sweep"), tmp_path / "sweep.json"
    monkeypatch.setattr(sys, "argv", ["mage_sampling_sweep.py", "--checkpoint",
                                      str(CHECKPOINTS / "mage_tiny_clipart.pt"), "--images", "48",
                                      "--token-temperatures", "0.1", "--choice-temperatures", "1",
                                      "--token-margins", "0", "--out", str(out)])
    script.main()
    result = json.loads(out.read_text())
    reference, other = result["settings"]  # the reference setting is added to a grid without it
    assert {k: reference[k] for k in script.REFERENCE} == script.REFERENCE
    assert other["center_0.5"]["hole_mse"] != reference["center_0.5"]["hole_mse"]  # the setting took effect
    # the halves split the images: their mean is the whole set's judged accuracy under the reference decoding
    test = load_clipart("test").subset(range(48))
    filled, _ = generate(load_mage_checkpoint(CHECKPOINTS / "mage_tiny_clipart.pt", "tiny"), test.images,
                         "center_0.5", batch_size=256, seed=0)
    hits = (load_is_classifier()(filled).argmax(1) == test.labels).float().mean().item()
    assert (reference["center_0.5"]["select"] + reference["center_0.5"]["report"]) / 2 == pytest.approx(hits)
    chosen = max((reference, other), key=lambda row: sum(row[t]["select"] for t in script.TASKS))
    assert result["chosen_on_select"] == {k: chosen[k] for k in script.REFERENCE}
    assert result["report_half"]["chosen"] == {t: chosen[t]["report"] for t in script.TASKS}
    assert result["report_half"]["reference"] == {t: reference[t]["report"] for t in script.TASKS}
    difference = result["report_half_chosen_minus_reference"]["center_0.5"]["difference"]
    assert difference == pytest.approx(chosen["center_0.5"]["report"] - reference["center_0.5"]["report"])


def test_mage_fit_gap_scores_seen_training_images_and_the_test_split_with_each_views_frequencies(monkeypatch, tmp_path,
                                                                                                 project_module):
    script, out = project_module("scripts", "mage_fit_gap"), tmp_path / "gap.json"
    splits = {"train": load_clipart("train").subset(range(0, 3091, 48)), "test": load_clipart("test").subset(range(16))}
    monkeypatch.setattr(script, "load_clipart", splits.get)  # frequencies over all 3,091 images take ~25 s a view
    checkpoint = str(CHECKPOINTS / "mage_tiny_clipart.pt")
    monkeypatch.setattr(sys, "argv", ["mage_fit_gap.py", "--checkpoints", checkpoint, "--tasks", "center_0.5",
                                      "outpaint_0.5", "--seed", "3", "--out", str(out)])
    script.main()
    result = json.loads(out.read_text())
    row = result["models"][checkpoint]
    assert row["sha256"] == file_sha256(checkpoint) and result["images_per_split"] == 16
    gen = load_mage_checkpoint(checkpoint, "tiny").eval()
    seen = splits["train"].subset(torch.randperm(len(splits["train"]), generator=torch.Generator().manual_seed(3))[:16])
    for task in ("center_0.5", "outpaint_0.5"):
        frequencies = hole_token_log_frequencies(gen, splits["train"], task)
        for name, images in (("train", seen), ("test", splits["test"])):
            expected = hole_token_nll(gen, images, frequencies, task)
            assert row[task][name] == pytest.approx({k: expected[k] for k in script.MEASURES})
        assert row[task]["nll_test_minus_train"] == pytest.approx(row[task]["test"]["model_nll"]
                                                                  - row[task]["train"]["model_nll"])


def test_mage_memorisation_check_scores_the_images_it_trained_on_and_as_many_test_images(monkeypatch, tmp_path,
                                                                                         project_module):
    script, out, figure = project_module("scripts", "mage_memorisation_check"), tmp_path / "m.json", tmp_path / "m.png"
    shipped, trained_on = load_mage_checkpoint(CHECKPOINTS / "mage_tiny_clipart.pt", "tiny"), []

    def fake_pretrain_mage(data, tokenizer, config, **kwargs):  # training is tested above; the wiring is checked here
        trained_on.append((data, kwargs))
        return shipped, {"loss_curve": [{"step": 1, "loss": 6.0}]}
    monkeypatch.setattr(script, "pretrain_mage", fake_pretrain_mage)
    monkeypatch.setattr(sys, "argv", ["mage_memorisation_check.py", "--images", "8", "--steps", "3", "--seed", "2",
                                      "--out", str(out), "--figure", str(figure)])
    script.main()
    result = json.loads(out.read_text())
    (seen, kwargs), = trained_on
    assert len(seen) == 8 and kwargs["steps"] == 3 and kwargs["filled_context"] and figure.is_file()
    train = load_clipart("train")
    index = torch.randperm(len(train), generator=torch.Generator().manual_seed(2))[:8].sort().values
    assert torch.equal(seen.images, train.images[index])  # the images it learnt are the ones it is scored on
    frequencies = hole_token_log_frequencies(shipped, seen, "center_0.5")
    assert result["results"]["seen"]["model_nll"] == pytest.approx(
        hole_token_nll(shipped, seen, frequencies, "center_0.5")["model_nll"])
    unseen = result["results"]["unseen"]
    assert unseen["model_nll"] != pytest.approx(result["results"]["seen"]["model_nll"])
    assert unseen["hole_mse_true_tokens"] < unseen["hole_mse_mage"]  # a perfect transformer beats the shipped one


def test_scaled_init_starts_a_new_transformer_from_the_scaled_scales_and_refuses_a_trained_one(monkeypatch):
    from l2l_utils.models.mage import SCALED_INIT
    data, vq = synthetic_dataset(n_per_class=2, size=64), build_vqgan("tiny").eval().requires_grad_(False)
    built = []
    monkeypatch.setattr(pretrain_mage_module, "build_mage", lambda config, **init: built.append(init) or
                        build_mage(config, **init))
    for scaled in (False, True):
        _, meta = pretrain_mage(data, vq, steps=1, batch_size=4, warmup=1, scaled_init=scaled)
        assert meta["scaled_init"] is scaled and built[-1] == (SCALED_INIT if scaled else {})
    with pytest.raises(ValueError, match="new transformer"):
        pretrain_mage(data, vq, steps=1, init=MAGEGenerator(build_mage("tiny")), scaled_init=True)


def test_mage_positive_control_trains_on_a_seeded_fashion_subset_and_reuses_or_resumes_when_told(monkeypatch, tmp_path,
                                                                                                project_module):
    from l2l_utils.data import load_fashion_mnist64
    from l2l_utils.evaluate import judged_accuracy
    from l2l_utils.metrics.classifier import DomainClassifier
    script = project_module("scripts", "mage_positive_control")
    torch.manual_seed(0)
    judge = tmp_path / "judge.pt"  # an untrained judge: the wiring is tested, not its skill
    torch.save({"state_dict": DomainClassifier(num_classes=10).state_dict(), "class_names": [str(c) for c in range(10)],
                "meta": {}}, judge)
    trained = []

    def recording_pretrain_mage(data, tokenizer, config, **kwargs):
        init = kwargs["init"] and {k: v.clone() for k, v in kwargs["init"].mage.state_dict().items()}
        trained.append((data, tokenizer, kwargs, init))
        return pretrain_mage(data, tokenizer, config, **{**kwargs, "batch_size": 4, "warmup": 1})
    monkeypatch.setattr(script, "pretrain_mage", recording_pretrain_mage)
    common = ["--judge", str(judge), "--train-images", "12", "--test-images", "60", "--mage-steps", "2", "--seed", "3"]
    runs = {"first": common + ["--vq-steps", "2", "--checkpoint", str(tmp_path / "first.pt")],
            "reused": common + ["--tokenizer-of", str(tmp_path / "first.pt"), "--scaled-init"],
            "resumed": common + ["--resume", str(tmp_path / "first.pt")]}
    results = {}
    for name, argv in runs.items():
        out = tmp_path / f"{name}.json"
        monkeypatch.setattr(sys, "argv", ["mage_positive_control.py", *argv, "--out", str(out),
                                          "--figure", str(tmp_path / f"{name}.png")])
        if name != "first":  # the tokenizer comes from the first run's checkpoint, not from new training
            monkeypatch.setattr(script, "pretrain_vqgan", lambda *a, **k: pytest.fail("trained a tokenizer"))
        script.main()
        results[name] = json.loads(out.read_text())
        assert (tmp_path / f"{name}.png").is_file()
    (seen, first_vq, first, _), (_, reused_vq, reused, reused_init), (_, resumed_vq, resumed, resumed_init) = trained
    g = torch.Generator().manual_seed(3)
    train = load_fashion_mnist64("train")
    assert torch.equal(seen.images, train.images[torch.randperm(len(train), generator=g)[:12].sort().values])
    assert not first["scaled_init"] and reused["scaled_init"] and first["filled_context"]
    for vq in (reused_vq, resumed_vq):
        assert all(torch.equal(a, b) for a, b in zip(first_vq.state_dict().values(), vq.state_dict().values()))
    saved = torch.load(tmp_path / "first.pt", weights_only=True)
    assert reused_init is None and resumed_init.keys() == saved["model"].keys()  # resumed: the saved transformer
    assert all(torch.equal(resumed_init[k], v) for k, v in saved["model"].items())
    first_stage = {k: v for k, v in saved["meta"]["mage"].items() if k != "earlier_stages"}
    assert results["resumed"]["mage_meta"]["earlier_stages"] == [first_stage]
    assert results["first"]["mage_meta"]["earlier_stages"] == []
    test = load_fashion_mnist64("test")
    test = test.subset(torch.randperm(len(test), generator=g)[:60].sort().values)
    whole = judged_accuracy(load_is_classifier(judge), test.images, test.labels)
    for result in results.values():
        assert set(result["results"]) == set(EVAL_TASKS) and "colour_kept" not in result["tokenizer_reconstruction"]
        assert {v["recognised"]["ground_truth"] for v in result["results"].values()} == {whole}
    assert results["reused"]["vqgan_meta"]["reused_from"] == str(tmp_path / "first.pt")
    monkeypatch.setattr(sys, "argv", ["mage_positive_control.py", *common, "--resume", str(tmp_path / "first.pt"),
                                      "--scaled-init"])
    with pytest.raises(SystemExit, match="initial scales are its own"):
        script.main()
    clipart_judge = str(CHECKPOINTS / "is_classifier_clipart.pt")
    monkeypatch.setattr(sys, "argv", ["mage_positive_control.py", "--judge", clipart_judge])
    with pytest.raises(SystemExit, match="has 12 classes, the data 10"):  # the clip-art's judge, before any training
        script.main()
