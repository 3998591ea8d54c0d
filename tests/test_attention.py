"""The fused attention path (GPU default, base.ATTENTION) computes what the reference path computes."""
import pytest
import torch

from l2l_utils.models import base
from l2l_utils.models.mage import Attention
from l2l_utils.models.unet import AttentionBlock


@pytest.fixture
def backend():
    def use(name):
        base.ATTENTION["backend"] = name
    yield use
    base.ATTENTION["backend"] = "auto"


@pytest.mark.parametrize("make, shape", [(lambda: Attention(64, 4), (2, 17, 64)),
                                         (lambda: AttentionBlock(64, num_head_channels=32), (2, 64, 4, 4))])
def test_fused_attention_matches_the_reference_path(backend, make, shape, monkeypatch):
    import torch.nn.functional as F
    calls = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or sdpa(*a, **k))
    torch.manual_seed(0)
    layer, x = make().eval(), torch.randn(shape)
    backend("reference")
    reference = layer(x)
    assert not calls
    backend("fused")
    fused = layer(x)
    assert calls  # the fused kernel did run
    # fp32 on CPU: the two differ only in summation order (observed ~1e-7)
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-5)


def test_auto_is_the_reference_on_cpu_and_bad_names_are_refused(backend):
    x = torch.zeros(1)
    assert not base.use_fused_attention(x)
    backend("flash")
    with pytest.raises(ValueError, match="auto, reference or fused"):
        base.use_fused_attention(x)
